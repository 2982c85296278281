"""Local ledgers for tests and benchmarks: a tangle node in this process, or eth-tester."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

FUND = 10**6


@dataclass
class LedgerEnv:
    kind: str
    alice: object  # funded Ledger
    bob: object  # funded Ledger
    make: Callable[[], object]  # a new, unfunded account on the same ledger
    fund: Callable[[object, int], None]  # give an account funds (confirmed on return)
    handle: object  # the tangle node, or the eth Chain
    url: str | None = None  # the tangle node's URL


@contextlib.contextmanager
def tangle_env(tmp_path, fund: int = FUND, **node_config) -> Iterator[LedgerEnv]:
    from exchange.ledger.tangle import TangleLedger
    from exchange.tangle.client import TangleClient
    from exchange.tangle.testing import run_node
    from exchange.tangle.wallet import Wallet

    node_config.setdefault("rate_per_s", 5000.0)
    node_config.setdefault("rate_burst", 10000)
    with run_node(tmp_path, **node_config) as (url, node):
        client = TangleClient(url)

        def make():
            return TangleLedger(client, Wallet.generate())

        def give(ledger, amount):
            client.wait_confirmed(client.faucet(ledger.address, amount))

        alice, bob = make(), make()
        give(alice, fund)
        give(bob, fund)
        yield LedgerEnv("tangle", alice, bob, make, give, node, url)


@contextlib.contextmanager
def ethereum_env(chain=None) -> Iterator[LedgerEnv]:
    """eth-tester by default; pass a Chain (e.g. anvil) to use it instead (left open on exit)."""
    from exchange.chain.connect import embedded_chain
    from exchange.chain.message_board import MessageBoardClient
    from exchange.ledger.ethereum import EthereumLedger

    own = chain is None
    chain = chain or embedded_chain()
    board = MessageBoardClient.deploy(chain)
    accounts = iter(chain.accounts[2:])

    def make():
        return EthereumLedger(board.for_sender(next(accounts)))

    def give(ledger, amount):
        chain.send_value(ledger.address, amount, sender=chain.accounts[0])

    try:
        yield LedgerEnv("ethereum", EthereumLedger(board.for_sender(chain.accounts[0])),
                        EthereumLedger(board.for_sender(chain.accounts[1])), make, give, chain)
    finally:
        if own:
            chain.close()


def ledger_env(kind: str, tmp_path, chain=None, **config):
    return tangle_env(tmp_path, **config) if kind == "tangle" else ethereum_env(chain)
