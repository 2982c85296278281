"""Transactions prepared here and signed elsewhere (a browser wallet): call data, value, gas, then the check.

``prepare`` encodes a contract call and estimates its gas from the signer's address on the current
state (a revert surfaces as ``ContractRevert`` before anyone signs); ``confirm`` waits for the mined
transaction the wallet reports and checks that it is the prepared one (sender, target, data, value)
and that it succeeded, so nothing the browser says is taken on trust.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes

from exchange.chain.connect import Chain, _is_insufficient_funds
from exchange.chain.reverts import raise_decoded
from exchange.errors import ContractRevert, ExchangeError, InsufficientFundsError

GAS_MARGIN_PCT = 25  # state moves between estimate and mining (other bidders, our own batches)
RECEIPT_TIMEOUT_S = 60
DIGEST = "keccak:"


class PreparedTxError(ExchangeError, ValueError):
    """A reported transaction is not the prepared one, is unknown, or failed on chain."""


@dataclass(frozen=True)
class PreparedTx:
    """What the wallet signs: ``eth_sendTransaction`` fields (``gas`` with the margin)."""

    sender: str
    to: str
    data: str  # 0x hex
    value: int
    gas: int

    def kept(self) -> PreparedTx:
        """The same check with the call data as its keccak (``keccak:<hex>``): what a server stores
        while the wallet signs, so a reveal's salts are never written to its disk before they are mined."""
        if self.data.startswith(DIGEST):
            return self
        return replace(self, data=DIGEST + keccak(HexBytes(self.data)).hex())

    def data_matches(self, data) -> bool:
        if self.data.startswith(DIGEST):
            return keccak(HexBytes(data)).hex() == self.data.removeprefix(DIGEST)
        return HexBytes(data) == HexBytes(self.data)

    def for_wallet(self) -> dict:
        return {"from": self.sender, "to": self.to, "data": self.data, "value": hex(self.value), "gas": hex(self.gas)}


def prepare(chain: Chain, fn, sender: str, value: int = 0) -> PreparedTx:
    """Encode ``fn`` (a web3 contract function call) for ``sender``; gas estimated on the latest state."""
    sender = to_checksum_address(sender)
    data = fn._encode_transaction_data()
    tx = {"from": sender, "to": fn.address, "data": data, "value": int(value)}
    try:
        gas = chain.w3.eth.estimate_gas(tx)
    except Exception as exc:  # noqa: BLE001 - decoded into ContractRevert when it is one
        if _is_insufficient_funds(exc):
            raise InsufficientFundsError(f"account {sender} holds too little ETH for this transaction (value plus gas):"
                                         " fund it first") from exc
        raise_decoded(exc, chain.w3)
        raise
    return PreparedTx(sender, fn.address, data, int(value), gas * (100 + GAS_MARGIN_PCT) // 100)


def fee_per_gas(chain: Chain) -> int:
    """What a unit of gas costs now (the node's suggestion; a wallet may pay a little more or less)."""
    return int(chain.w3.eth.gas_price)


def confirm(chain: Chain, prepared: PreparedTx, tx_hash: str, timeout: float = RECEIPT_TIMEOUT_S):
    """The receipt of ``tx_hash`` once mined, after checking it is ``prepared`` and did not revert."""
    if not isinstance(tx_hash, str) or len(tx_hash) != 66 or not tx_hash.startswith("0x"):
        raise PreparedTxError("the transaction hash must be 0x and 64 hex digits")
    try:
        h = HexBytes(tx_hash)
    except ValueError:
        raise PreparedTxError("the transaction hash must be 0x and 64 hex digits") from None
    try:
        # Known at once or not at all: the wallet reports a hash the node has accepted, so an
        # unknown one is refused now rather than waited for.
        tx = chain.w3.eth.get_transaction(h)
        receipt = chain.w3.eth.wait_for_transaction_receipt(h, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - web3 raises TimeExhausted / TransactionNotFound / RPC errors
        raise PreparedTxError(f"no mined transaction {tx_hash} on this chain ({type(exc).__name__})") from exc
    if (to_checksum_address(tx["from"]) != prepared.sender or tx["to"] is None
            or to_checksum_address(tx["to"]) != prepared.to or not prepared.data_matches(tx["input"])
            or int(tx["value"]) != prepared.value):
        raise PreparedTxError(f"transaction {tx_hash} is not the one prepared (sender, target, data or value differ)")
    if receipt["status"] != 1:
        raise ContractRevert("Reverted", (tx_hash,), f"transaction {tx_hash} reverted on chain (out of gas, or the"
                                                   " state changed since it was prepared)")
    return receipt
