"""``thingbid tangle node|send|balance|history|wallet-new|faucet|info|publish|peer-id``."""

from __future__ import annotations

import getpass
import json
import os


def register(sub) -> None:
    p = sub.add_parser("tangle", help="run a tangle node, use a tangle wallet")
    s = p.add_subparsers(dest="action", required=True)

    n = s.add_parser("node", help="run a tangle node (HTTP API, gossip, coordinator on dev)")
    n.add_argument("--host", default="127.0.0.1")
    n.add_argument("--port", type=int, default=14265)
    n.add_argument("--db", default=None, help="database URL (default: SQLite under the state dir)")
    n.add_argument("--peer", action="append", default=[], help="peer base URL (repeatable)")
    n.add_argument("--difficulty", type=int, default=None)
    n.add_argument("--no-coordinator", action="store_true", help="do not issue milestones")
    n.add_argument("--durable", action="store_true",
                   help="SQLite: fsync every commit so acknowledged transactions survive power loss")
    n.add_argument("--config-json", default=None, help="NodeConfig fields as a JSON object")
    n.set_defaults(func=_node)
    x = s.add_parser("peer-id", help="the public peer key of $THINGBID_TANGLE_PEER_KEY (for other nodes' allow-lists)")
    x.set_defaults(func=_peer_id)

    def client_args(x):
        x.add_argument("--url", default=None, help="node URL (default: tangle_url setting)")

    def wallet_args(x):
        x.add_argument("--wallet", required=True, help="keystore file")
        x.add_argument("--password-env", default="THINGBID_WALLET_PASSWORD",
                       help="environment variable holding the password (else prompt)")

    w = s.add_parser("wallet-new", help="create an encrypted wallet file")
    wallet_args(w)
    w.set_defaults(func=_wallet_new)
    for name, fn, help_ in (("balance", _balance, "confirmed balance of an address or wallet"),
                            ("history", _history, "transactions from/to a wallet"),
                            ("info", _info, "node info")):
        x = s.add_parser(name, help=help_)
        client_args(x)
        if name != "info":
            x.add_argument("--wallet", default=None)
            x.add_argument("--address", default=None)
            x.add_argument("--password-env", default="THINGBID_WALLET_PASSWORD")
        x.set_defaults(func=fn)
    x = s.add_parser("send", help="send a feeless value transfer")
    client_args(x)
    wallet_args(x)
    x.add_argument("to")
    x.add_argument("amount", type=int)
    x.add_argument("--memo", default="")
    x.add_argument("--wait", action="store_true", help="wait until a milestone references it")
    x.set_defaults(func=_send)
    x = s.add_parser("publish", help="publish a tagged data message")
    client_args(x)
    wallet_args(x)
    x.add_argument("tag")
    x.add_argument("data")
    x.set_defaults(func=_publish)
    x = s.add_parser("faucet", help="get dev-network funds")
    client_args(x)
    x.add_argument("address")
    x.add_argument("amount", type=int)
    x.set_defaults(func=_faucet)


def _client(args):
    from exchange.config import load_settings
    from exchange.tangle.client import TangleClient

    return TangleClient(args.url or load_settings().tangle_url)


def _password(args, confirm: bool = False) -> str:
    pw = os.environ.get(args.password_env)
    if pw:
        return pw
    pw = getpass.getpass("wallet password: ")
    if confirm and getpass.getpass("again: ") != pw:
        from exchange.errors import KeystoreError

        raise KeystoreError("passwords differ")
    return pw


def _wallet(args):
    from exchange.tangle.wallet import Wallet

    return Wallet.load(args.wallet, _password(args))


def _node(args) -> int:
    import logging

    from exchange.config import load_settings
    from exchange.errors import ConfigError
    from exchange.tangle.node import Node, NodeConfig
    from exchange.tangle.server import NodeServer

    cfg = json.loads(args.config_json) if args.config_json else {}
    if not isinstance(cfg, dict):
        raise ConfigError("--config-json must be a JSON object")
    if args.db:
        cfg["db_url"] = args.db
    cfg.setdefault("db_url", load_settings().sqlite_url("tangle"))
    cfg["peers"] = list(cfg.get("peers", [])) + args.peer
    if args.difficulty is not None:
        cfg["difficulty"] = args.difficulty
    if args.no_coordinator:
        cfg["run_coordinator"] = False
    if args.durable:
        cfg["durable"] = True
    if os.environ.get("THINGBID_TANGLE_PEER_SECRET"):  # from the environment, never argv
        cfg["peer_secret"] = os.environ["THINGBID_TANGLE_PEER_SECRET"]
    if os.environ.get("THINGBID_TANGLE_PEER_KEY"):  # hex 32-byte seed of this node's identity
        cfg["peer_key_seed"] = os.environ["THINGBID_TANGLE_PEER_KEY"]
    if os.environ.get("THINGBID_TANGLE_PEER_ALLOW"):  # comma/space separated public keys
        cfg["peer_allow"] = os.environ["THINGBID_TANGLE_PEER_ALLOW"].replace(",", " ").split()
    cfg.setdefault("self_url", f"http://{args.host}:{args.port}")
    try:
        config = NodeConfig(**cfg)
    except TypeError as exc:
        raise ConfigError(f"tangle node config: {exc}") from None
    srv = NodeServer(Node(config), args.host, args.port)
    logging.getLogger(__name__).info("tangle node on %s (db %s)", srv.url, config.db_url.split("@")[-1])
    print(f"tangle node listening on {srv.url}", flush=True)
    srv.serve_forever()
    return 0


def _peer_id(args) -> int:
    from exchange.errors import ConfigError
    from exchange.tangle import tx as txm
    from exchange.tangle.node import NodeConfig

    seed = os.environ.get("THINGBID_TANGLE_PEER_KEY")
    if not seed:
        raise ConfigError("THINGBID_TANGLE_PEER_KEY is not set (a 64-hex-char secret seed, e.g. from "
                          "`python -c 'import secrets; print(secrets.token_hex(32))'`)")
    print(txm.public_bytes(NodeConfig(peer_key_seed=seed).peer_key()).hex())
    return 0


def _wallet_new(args) -> int:
    from exchange.tangle.wallet import Wallet

    w = Wallet.generate()
    w.save(args.wallet, _password(args, confirm=True))
    print(w.address)
    return 0


def _address(args) -> str:
    if args.address:
        return args.address
    if args.wallet:
        return _wallet(args).address
    from exchange.errors import ConfigError

    raise ConfigError("give --address or --wallet")


def _balance(args) -> int:
    print(_client(args).balance(_address(args)))
    return 0


def _history(args) -> int:
    from exchange.tangle.wallet import Wallet

    c = _client(args)
    addr = _address(args)
    w = Wallet.__new__(Wallet)
    w.address = addr
    for item in Wallet.history(w, c):
        p = item["payload"]
        state = "conflicting" if item["conflicting"] else ("confirmed" if item["confirmed"] else "pending")
        print(f"{item['id']} {item['kind']:9} {state:11} {json.dumps(p)}")
    return 0


def _info(args) -> int:
    print(json.dumps(_client(args).info(), indent=2))
    return 0


def _send(args) -> int:
    c = _client(args)
    tx_id = _wallet(args).send(c, args.to, args.amount, args.memo.encode())
    print(tx_id)
    if args.wait:
        d = c.wait_confirmed(tx_id, timeout=30)
        print("conflicting" if d["conflicting"] else f"confirmed by milestone {d['milestone']}")
    return 0


def _publish(args) -> int:
    print(_wallet(args).publish(_client(args), args.tag, args.data.encode()))
    return 0


def _faucet(args) -> int:
    print(_client(args).faucet(args.address, args.amount))
    return 0
