"""EthereumLedger: the Ledger protocol over the MessageBoard contract.

- ``publish``/``read``: ``MessageBoard.post`` and its ``MessagePosted`` events (tag = keccak256 of the text).
- ``transfer``: ``MessageBoard.pay(to, memo)`` with the value; the recipient is *credited* (pull
  payment) and calls ``withdraw()`` to move the credit to its account. ``balance`` counts both,
  so a recipient's balance rises by exactly the amount paid. Payers also pay gas (not feeless).
- References: ``<tx hash>:<log index>``. Confirmed = mined successfully at least
  ``confirmations`` blocks deep. Cursors are block numbers; a read only reaches blocks that are
  already confirmed, so every payment ``incoming`` returns is confirmed. Reorgs deeper than
  ``confirmations`` are not handled (pick the depth for the chain you use).
"""

from __future__ import annotations

from exchange.errors import ContractRevert
from exchange.ledger.base import Confirmation, LedgerRejected, Message, Payment, check_amount


class EthereumLedger:
    kind = "ethereum"
    max_message_size = 16384

    def __init__(self, board, confirmations: int = 0):
        """``board`` is an ``exchange.chain.message_board.MessageBoardClient`` for this account."""
        self.board = board
        self.confirmations = confirmations

    @classmethod
    def connect(cls, chain, board_address: str, account: str | None = None, confirmations: int = 0):
        from exchange.chain.message_board import MessageBoardClient

        return cls(MessageBoardClient(chain, board_address, account), confirmations)

    def for_account(self, account: str) -> EthereumLedger:
        return EthereumLedger(self.board.for_sender(account), self.confirmations)

    @property
    def address(self) -> str:
        return self.board.sender

    def balance(self, address: str | None = None) -> int:
        who = address or self.address
        return self.board.native_balance(who) + self.board.credit_of(who)

    def withdraw(self) -> str:
        """Move this account's credit on the board to the account itself."""
        return self._guard(self.board.withdraw)

    def transfer(self, to: str, amount: int, memo: bytes = b"") -> str:
        check_amount(amount)
        if len(memo) > self.max_message_size:
            raise LedgerRejected(f"memo of {len(memo)} bytes exceeds {self.max_message_size}")
        if self.board.native_balance(self.address) < amount:
            raise LedgerRejected(f"insufficient funds: {self.address} cannot pay {amount}")
        return self._guard(lambda: self.board.pay(to, amount, memo))

    def _confirmed_head(self) -> int:
        return self.board.head() - self.confirmations

    def incoming(self, address: str | None = None, since: int = 0) -> tuple[list[Payment], int]:
        top = self._confirmed_head()
        found = self.board.payments_to(address or self.address, since, top)
        return [Payment(p.ref, p.sender, p.to, p.amount, p.memo, True) for p in found], max(since, top + 1)

    def status(self, ref: str) -> Confirmation:
        tx_hash = ref.split(":", 1)[0]
        try:
            state = self.board.tx_state(tx_hash)
        except ValueError:  # not a hash at all
            return Confirmation.UNKNOWN
        if not state.known:
            return Confirmation.UNKNOWN
        if state.succeeded is None:
            return Confirmation.PENDING
        if not state.succeeded:
            return Confirmation.REJECTED
        return Confirmation.CONFIRMED if state.block <= self._confirmed_head() else Confirmation.PENDING

    def publish(self, tag: str, data: bytes) -> str:
        if len(data) > self.max_message_size:
            raise LedgerRejected(f"message of {len(data)} bytes exceeds {self.max_message_size}")
        return self._guard(lambda: self.board.post(tag, data))

    def read(self, tag: str, since: int = 0) -> tuple[list[Message], int]:
        top = self._confirmed_head()
        found = self.board.messages(tag, since, top)
        return [Message(m.ref, m.sender, tag, m.data) for m in found], max(since, top + 1)

    @staticmethod
    def _guard(fn):
        try:
            return fn()
        except ContractRevert as exc:
            raise LedgerRejected(f"MessageBoard reverted: {exc}") from exc
