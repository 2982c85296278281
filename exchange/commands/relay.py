"""``thingbid relay``: serve devices behind NAT (agents connect out; buyers reach them here).

An agent's hello is checked against the device's registry record, so the relay needs the chain
(``--rpc``) and the deployment manifest (``--deployments-dir``). Run several relays for scale and
failover: each agent connects to every relay its config names, and its TD lists them all.
"""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("relay", help="run a relay: devices behind NAT connect out to it, buyers read them through it")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8700, help="port (default 8700; 0: a free one)")
    p.add_argument("--rpc", default=None, help="JSON-RPC URL of the chain (default: $THINGBID_RPC_URL or the config)")
    p.add_argument("--deployments-dir", type=Path, default=None, help="where the deployment manifest is")
    p.add_argument("--keys-file", type=Path, default=None,
                   help="instead of the registry: a JSON table {device id hex: Ed25519 key hex} (benches, closed fleets)")
    p.add_argument("--relay-id", default="", help="the name agents sign their hello for (default: the relay's URL)")
    p.add_argument("--ready-file", type=Path, default=None, help="write the relay's URL here once it listens")
    p.set_defaults(func=run)


def _listen(host: str, port: int):
    """The listening socket, bound before anything heavy is imported: during a restart, agents that
    dial in are held in the kernel's backlog (4096) and served as soon as the loop runs."""
    import socket

    from exchange.errors import ConfigError

    if not 0 <= port <= 65535:
        raise ConfigError(f"--port {port} is not a port")
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(4096)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.setblocking(False)
    return sock


def run(args) -> int:
    sock = _listen(args.host, args.port)
    import asyncio
    import json
    import signal

    from exchange.errors import ConfigError
    from exchange.relay.keys import RegistryKeys, TableKeys
    from exchange.relay.server import Relay, start_site
    if args.keys_file is not None:
        try:
            keys = TableKeys(json.loads(args.keys_file.read_text()))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--keys-file {args.keys_file}: {exc}") from None
        source = f"keys from {args.keys_file}"
    else:
        from exchange.chain.connect import rpc_chain
        from exchange.chain.deploy import load_manifest
        from exchange.config import load_settings

        settings = load_settings()
        chain = rpc_chain(args.rpc or settings.rpc_url)
        ddir = args.deployments_dir or settings.deployments_dir
        manifest = load_manifest(chain, Path(ddir))
        if manifest is None or "DeviceRegistry" not in manifest.get("contracts", {}):
            raise ConfigError(f"no DeviceRegistry deployed on chain {chain.chain_id} in {ddir}: deploy first")
        keys = RegistryKeys.from_manifest(chain, manifest)
        source = f"registry on chain {chain.chain_id}"

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        relay = Relay(keys, args.relay_id or "pending")
        runner, port = await start_site(relay, args.host, args.port, sock=sock)
        url = f"http://{args.host}:{port}"
        relay.relay_id = args.relay_id or url
        print(f"relay listening at {url} (relay id {relay.relay_id!r}; {source})", flush=True)
        if args.ready_file:
            args.ready_file.write_text(url + "\n")
        await stop.wait()
        await runner.cleanup()

    asyncio.run(serve())
    return 0
