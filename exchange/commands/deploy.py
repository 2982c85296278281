"""``thingbid deploy``: deploy every contract to a chain and write the manifest."""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("deploy", help="deploy the contracts; writes deployments/<chainId>.json")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--network", choices=["embedded", "anvil"], default=None,
                       help="embedded: eth-tester in this process; anvil: start or reuse anvil on 127.0.0.1:8545")
    where.add_argument("--rpc", metavar="URL", help="any EVM JSON-RPC endpoint")
    p.add_argument("--keystore", help="encrypted JSON keystore of the deployer (needed with --rpc unless the node has unlocked accounts)")
    p.add_argument("--password-file", help="file holding the keystore password (else $THINGBID_KEYSTORE_PASSWORD or a prompt)")
    p.add_argument("--fresh", action="store_true", help="deploy everything again instead of reusing")
    p.add_argument("--deployments-dir", type=Path, default=None)
    p.set_defaults(func=run)


def open_chain(args):
    """The chain named by --network/--rpc (anvil by default)."""
    from exchange.chain import connect

    if args.rpc:
        password = connect.read_password(password_file=args.password_file) if args.keystore else None
        return connect.rpc_chain(args.rpc, keystore=args.keystore, password=password)
    if args.network == "embedded":
        return connect.embedded_chain()
    return connect.anvil_chain(port=8545, reuse=True)


def run(args) -> int:
    from exchange.chain import artifacts
    from exchange.chain.deploy import deploy_all
    from exchange.config import load_settings

    artifacts.check()
    settings = load_settings()
    chain = open_chain(args)
    try:
        manifest, path = deploy_all(chain, args.deployments_dir or settings.deployments_dir, fresh=args.fresh,
                                    progress=print, network=args.network or ("rpc" if args.rpc else "anvil"))
        for name, entry in manifest["contracts"].items():
            print(f"{name:24} {entry['address']}")
        print(f"manifest: {path}")
    finally:
        if args.network == "embedded" or args.rpc:
            chain.close()
    if chain.anvil is not None:
        print(f"anvil is running at {chain.anvil.url} (pid {chain.anvil.process.pid}); stop it with kill {chain.anvil.process.pid}")
    return 0
