"""Typed client for contracts/MessageBoard.sol (tagged messages + pull payments with a memo).

This is the web3 half of ``exchange.ledger.ethereum.EthereumLedger``; the ledger package
itself never imports web3.
"""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3

from exchange.chain.artifacts import load_artifact
from exchange.chain.connect import Chain
from exchange.chain.deploy import deploy_contract

__all__ = ["MessageBoardClient", "BoardPayment", "BoardMessage", "TxState", "tag_topic"]


def tag_topic(tag: str) -> bytes:
    """The bytes32 topic a text tag is posted under (keccak256 of its UTF-8)."""
    return Web3.keccak(text=tag)


@dataclass(frozen=True)
class BoardPayment:
    ref: str  # "<tx hash>:<log index>"
    sender: str
    to: str
    amount: int
    memo: bytes
    block: int


@dataclass(frozen=True)
class BoardMessage:
    ref: str
    sender: str
    data: bytes
    block: int


@dataclass(frozen=True)
class TxState:
    known: bool  # the node knows the transaction
    succeeded: bool | None  # None while pending
    block: int | None


class MessageBoardClient:
    """One account's view of a deployed MessageBoard."""

    def __init__(self, chain: Chain, address: str, sender: str | None = None):
        self.chain = chain
        self.w3 = chain.w3
        self.sender = Web3.to_checksum_address(sender or chain.deployer)
        self.contract = self.w3.eth.contract(address=Web3.to_checksum_address(address),
                                             abi=load_artifact("MessageBoard")["abi"])

    @classmethod
    def deploy(cls, chain: Chain, sender: str | None = None) -> MessageBoardClient:
        receipt = deploy_contract(chain, "MessageBoard", [], sender=sender)
        return cls(chain, receipt["contractAddress"], sender)

    @property
    def address(self) -> str:
        return self.contract.address

    def for_sender(self, sender: str) -> MessageBoardClient:
        return MessageBoardClient(self.chain, self.address, sender)

    # -- writes (each waits for its receipt; reverts raise ContractRevert) --
    def post(self, tag: str, data: bytes) -> str:
        r = self.chain.transact(self.contract.functions.post(tag_topic(tag), data), sender=self.sender)
        return "0x" + r["transactionHash"].hex().removeprefix("0x")

    def pay(self, to: str, amount: int, memo: bytes) -> str:
        r = self.chain.transact(self.contract.functions.pay(Web3.to_checksum_address(to), memo),
                                sender=self.sender, value=amount)
        (ev,) = self.contract.events.PaymentMade().process_receipt(r)
        return f"0x{r['transactionHash'].hex().removeprefix('0x')}:{ev['logIndex']}"

    def withdraw(self) -> str:
        r = self.chain.transact(self.contract.functions.withdraw(), sender=self.sender)
        return "0x" + r["transactionHash"].hex().removeprefix("0x")

    # -- reads --
    def credit_of(self, account: str) -> int:
        return self.contract.functions.creditOf(Web3.to_checksum_address(account)).call()

    def native_balance(self, account: str) -> int:
        return self.w3.eth.get_balance(Web3.to_checksum_address(account))

    def head(self) -> int:
        return self.w3.eth.block_number

    def payments_to(self, to: str, from_block: int, to_block: int) -> list[BoardPayment]:
        if to_block < from_block:
            return []
        logs = self.contract.events.PaymentMade().get_logs(
            from_block=from_block, to_block=to_block, argument_filters={"to": Web3.to_checksum_address(to)})
        return [BoardPayment(f"0x{lg['transactionHash'].hex().removeprefix('0x')}:{lg['logIndex']}",
                             lg["args"]["from"], lg["args"]["to"], lg["args"]["amount"], bytes(lg["args"]["memo"]),
                             lg["blockNumber"]) for lg in _ordered(logs)]

    def messages(self, tag: str, from_block: int, to_block: int) -> list[BoardMessage]:
        if to_block < from_block:
            return []
        logs = self.contract.events.MessagePosted().get_logs(
            from_block=from_block, to_block=to_block, argument_filters={"tag": tag_topic(tag)})
        return [BoardMessage(f"0x{lg['transactionHash'].hex().removeprefix('0x')}:{lg['logIndex']}",
                             lg["args"]["sender"], bytes(lg["args"]["payload"]), lg["blockNumber"])
                for lg in _ordered(logs)]

    def tx_state(self, tx_hash: str) -> TxState:
        from web3.exceptions import TransactionNotFound

        try:
            receipt = self.w3.eth.get_transaction_receipt(tx_hash)
        except TransactionNotFound:
            try:
                self.w3.eth.get_transaction(tx_hash)
            except TransactionNotFound:
                return TxState(False, None, None)
            return TxState(True, None, None)
        return TxState(True, receipt["status"] == 1, receipt["blockNumber"])


def _ordered(logs):
    return sorted(logs, key=lambda lg: (lg["blockNumber"], lg["logIndex"]))
