"""``thingbid stream``: buy a span of a device's live data stream and read it.

    thingbid stream offers DEVICE [--ledger tangle|ethereum]
    thingbid stream buy DEVICE --span N [--stream NAME] [--amount X] [--ledger tangle|ethereum] [--out FILE] [--follow]
    thingbid stream read FILE [--timeout S]

The purchase file holds the channel root and read keys, so it is written encrypted
(scrypt + AES-GCM, mode 0600) under the password in $THINGBID_STREAM_PASSWORD (or a prompt).
Tangle: --url (default: the tangle_url setting) and --wallet (keystore; password in
$THINGBID_WALLET_PASSWORD). Ethereum: --rpc URL [--keystore FILE] or --network anvil|embedded,
and the MessageBoard address from the deployment manifest (or --board).
On either ledger, offers are checked against the device's DeviceRegistry record on the chain
(--rpc/--network; the registry from the manifest or --registry): one that does not pay to and
come from the address the registry names is ignored (exchange.streams.records).
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("stream", help="buy and read encrypted device data streams")
    s = p.add_subparsers(dest="stream_cmd", metavar="ACTION", required=True)

    def ledger_args(x):
        x.add_argument("--ledger", choices=["tangle", "ethereum"], default="tangle")
        x.add_argument("--url", default=None, help="tangle node URL (default: tangle_url setting)")
        x.add_argument("--wallet", default=None, help="tangle wallet keystore (needed to pay)")
        x.add_argument("--password-env", default="THINGBID_WALLET_PASSWORD")
        x.add_argument("--rpc", default=None, help="EVM JSON-RPC URL (default: anvil on 127.0.0.1:8545)")
        x.add_argument("--network", choices=["anvil", "embedded"], default=None)
        x.add_argument("--keystore", default=None, help="Ethereum JSON keystore (with --rpc)")
        x.add_argument("--password-file", default=None)
        x.add_argument("--account", default=None, help="Ethereum account to pay from (default: the first)")
        x.add_argument("--board", default=None, help="MessageBoard address (default: from the manifest)")
        x.add_argument("--registry", default=None, help="DeviceRegistry address (default: from the manifest)")

    o = s.add_parser("offers", help="list a device's stream offers")
    o.add_argument("device")
    ledger_args(o)
    o.set_defaults(func=_offers)

    b = s.add_parser("buy", help="pay for the next N messages of a device's stream and receive the key")
    b.add_argument("device", help="device id (64 hex)")
    b.add_argument("--span", type=int, required=True, help="number of messages to buy")
    b.add_argument("--stream", default=None, help="stream name (default: the device's first offer)")
    b.add_argument("--amount", type=int, default=None, help="pay this instead of the exact price")
    b.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the device's answer")
    b.add_argument("--out", type=Path, default=None, help="encrypted purchase file (default: state dir)")
    b.add_argument("--follow", action="store_true", help="read the span right away")
    ledger_args(b)
    b.set_defaults(func=_buy)

    r = s.add_parser("read", help="follow a bought span live and print its readings (one JSON per line)")
    r.add_argument("purchase", type=Path, help="purchase file written by `stream buy`")
    r.add_argument("--timeout", type=float, default=None, help="stop after this many seconds")
    r.add_argument("--url", default=None, help="tangle node URL (default: the one recorded at purchase)")
    r.add_argument("--rpc", default=None)
    r.add_argument("--network", choices=["anvil", "embedded"], default=None)
    r.set_defaults(func=_read, ledger=None, wallet=None, keystore=None, password_file=None, account=None,
                   board=None, registry=None, password_env="THINGBID_WALLET_PASSWORD")


def _secret(env: str, prompt: str) -> str:
    from exchange.errors import KeystoreError

    pw = os.environ.get(env)
    if pw:
        return pw
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    raise KeystoreError(f"password missing: set ${env}")


def _chain(args):
    from exchange.chain import connect

    if args.rpc:
        password = connect.read_password(password_file=args.password_file) if args.keystore else None
        return connect.rpc_chain(args.rpc, keystore=args.keystore, password=password)
    if args.network == "embedded":
        return connect.embedded_chain()
    return connect.anvil_chain(port=8545, reuse=True)


def _deployed(chain, name: str, given: str | None, flag: str) -> str:
    from exchange.chain.deploy import load_manifest
    from exchange.config import load_settings
    from exchange.errors import DeploymentError

    if given:
        return given
    manifest = load_manifest(chain, load_settings().deployments_dir)
    if not manifest or name not in manifest.get("contracts", {}):
        raise DeploymentError(f"no {name} deployed on chain {chain.chain_id}: run `thingbid deploy` or pass {flag}")
    return manifest["contracts"][name]["address"]


def open_market(args, need_account: bool = True):
    """(the Ledger the arguments name, the registry records its offers are checked against)."""
    from exchange.chain.registry import RegistryClient
    from exchange.streams.records import RegistryRecords

    chain = _chain(args)
    records = RegistryRecords(RegistryClient(chain, _deployed(chain, "DeviceRegistry", args.registry, "--registry")))
    return open_ledger(args, need_account, chain), records


def open_ledger(args, need_account: bool = True, chain=None):
    """The Ledger the arguments name (tangle by default)."""
    from exchange.config import load_settings

    settings = load_settings()
    if args.ledger == "tangle":
        from exchange.ledger.tangle import TangleLedger
        from exchange.tangle.client import TangleClient
        from exchange.tangle.wallet import Wallet

        client = TangleClient(args.url or settings.tangle_url)
        if args.wallet:
            wallet = Wallet.load(args.wallet, _secret(args.password_env, "wallet password: "))
        elif need_account:
            from exchange.errors import KeystoreError

            raise KeystoreError("paying on the tangle needs --wallet FILE")
        else:
            wallet = Wallet.generate()  # read-only use: any identity will do
        return TangleLedger(client, wallet)
    from exchange.ledger.ethereum import EthereumLedger

    chain = chain or _chain(args)
    board = _deployed(chain, "MessageBoard", args.board, "--board")
    return EthereumLedger.connect(chain, board, args.account or chain.deployer, settings.confirmations)


def _offers(args) -> int:
    from exchange.streams import StreamBuyer

    ledger, records = open_market(args, need_account=False)
    buyer = StreamBuyer(ledger, registry=records)
    offers = buyer.offers(args.device)
    for o in offers:
        print(json.dumps({"stream": o.stream, "price_per_message": o.price, "pay_to": o.pay_to,
                          "max_span": o.max_span, "ledger": o.ledger, "channel": o.channel}))
    if not offers:
        print(f"device {args.device} has no genuine offer on the {args.ledger} ledger (none that pays to and "
              "comes from the address its registry record names)", file=sys.stderr)
        return 1
    return 0


def _buy(args) -> int:
    from exchange.config import load_settings
    from exchange.crypto.keystore import save_keys
    from exchange.streams import StreamBuyer

    ledger, records = open_market(args)
    buyer = StreamBuyer(ledger, registry=records)
    p = buyer.buy(args.device, args.span, args.stream, args.amount, timeout=args.timeout)
    out = args.out or load_settings().state_dir / "streams" / f"{p.request.nonce}.json"
    where = {"ledger": ledger.kind, "url": getattr(getattr(ledger, "client", None), "base_url", None),
             "board": getattr(getattr(ledger, "board", None), "address", None)}
    save_keys(out, _secret("THINGBID_STREAM_PASSWORD", "password for the purchase file: "),
              {"root": p.root.to_bytes(), "where": json.dumps(where).encode()})
    print(json.dumps({"device": p.offer.device_id, "stream": p.offer.stream, "paid": p.paid, "sold": p.sold,
                      "refund": p.refund, "first_message": p.root.seq, "payment": p.payment_ref,
                      "payment_to_key_ms": round(p.seconds * 1000, 1), "purchase_file": str(out)}))
    if args.follow:
        return _print_readings(buyer.follower(p), args.timeout)
    return 0


def _read(args) -> int:
    from exchange.crypto.keystore import load_keys
    from exchange.streams import ChannelFollower, ChannelRoot

    keys = load_keys(args.purchase, _secret("THINGBID_STREAM_PASSWORD", "password of the purchase file: "))
    root = ChannelRoot.from_bytes(keys["root"])
    where = json.loads(keys["where"])
    args.ledger = where["ledger"]
    args.url = args.url or where.get("url")
    args.board = where.get("board")
    return _print_readings(ChannelFollower(open_ledger(args, need_account=False), root), args.timeout)


def _print_readings(follower, timeout) -> int:
    for r in follower.follow(timeout=timeout):
        try:
            data = r.json()
        except ValueError:
            data = r.data.hex()
        print(json.dumps({"seq": r.seq, "reading": data}), flush=True)
    left = follower.root.span_end - follower.reader.next_seq
    if left:
        print(f"stopped with {left} bought message(s) not yet published", file=sys.stderr)
    return 0
