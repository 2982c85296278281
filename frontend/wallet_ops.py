"""Balances and the dev faucet (local chains only)."""

from __future__ import annotations

from dataclasses import dataclass

DEV_FUND_WEI = 100 * 10**18


@dataclass
class AccountSummary:
    address: str
    eth_balance: int
    deposit: int
    locked: int | None
    x25519_public: str | None  # None: a wallet session's key lives in the browser
    x25519_registered: bool
    tangle_address: str | None


def dev_fund(services, address: str, amount: int = DEV_FUND_WEI) -> None:
    """Give a new account test ether from the node's first unlocked account.

    Only when the operator asked for it (``--dev-faucet``); ``thingbid up`` talks to its local
    chain over JSON-RPC, so the chain kind alone cannot tell a dev node. Never on mainnet.
    """
    chain = services.base_chain()
    if not services.dev_faucet or not chain.accounts or chain.chain_id == 1:
        return
    with services.chain_guard():
        chain.dev_fund(address, amount, top_up_below=amount // 10)


def account_summary(services, user) -> AccountSummary:
    from exchange.crypto import x25519_public
    from frontend import auction_reads

    chain = services.base_chain()
    with services.chain_guard():
        bal = chain.balance(user.address)
    free, locked = auction_reads.balance_of(services, user.address)
    registered = auction_reads.buyer_key_of(services, user.address)
    pub = x25519_public(user.x25519_private) if user.x25519_private is not None else None
    return AccountSummary(user.address, bal, free, locked, pub.hex() if pub else None,
                          registered == pub if pub else registered != bytes(32),
                          getattr(user.tangle_wallet, "address", None))
