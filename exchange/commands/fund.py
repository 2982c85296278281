"""``thingbid fund ADDRESS``: send ETH from a local dev chain's unlocked account (a new device
account needs gas for its check-in; on a real network, send it from your own wallet)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation


def register(sub) -> None:
    p = sub.add_parser("fund", help="send ETH to an address from a dev chain's unlocked account (anvil, thingbid up)")
    p.add_argument("address", help="the 0x address to fund (e.g. the one `device-agent init` printed)")
    p.add_argument("--eth", default="1", help="how much ETH (default 1)")
    p.add_argument("--rpc", default=None, help="JSON-RPC URL (default: $THINGBID_RPC_URL or the config's rpc_url)")
    p.set_defaults(func=run)


def run(args) -> int:
    import json

    from eth_utils import is_address

    from exchange.chain.connect import ETH, format_eth, rpc_chain
    from exchange.config import load_settings
    from exchange.errors import ConfigError

    if not is_address(args.address):
        raise ConfigError(f"{args.address!r} is not an Ethereum address (0x and 40 hex digits)")
    try:
        wei = int(Decimal(args.eth) * ETH)
    except InvalidOperation:
        raise ConfigError(f"--eth {args.eth!r} is not a number") from None
    if wei <= 0 or wei > 1000 * ETH:
        raise ConfigError("--eth must be more than 0 and at most 1000")
    url = args.rpc or load_settings().rpc_url
    chain = rpc_chain(url)  # unlocked dev accounts only: this never asks for a key
    tx = chain.send_value(args.address, wei)
    print(json.dumps({"funded": args.address, "eth": format_eth(wei), "tx": tx,
                      "balance": format_eth(chain.balance(args.address))}))
    return 0
