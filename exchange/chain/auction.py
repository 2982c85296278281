"""Typed client for the AuctionHouse: funds, opening, batch bids, commit-reveal, settlement,
key delivery, reclaim, rating, getters and event readers.

Every revert surfaces as ``exchange.errors.ContractRevert`` (``.error`` is the custom error name,
``.error_args`` its arguments); ``BidRejected`` reverts come as :class:`BidRejectedError`, which
also names the reason. Bad arguments are refused before any transaction with
:class:`AuctionInputError`. ``send_many`` sends many transactions without waiting for each.
"""

from __future__ import annotations

import ast
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from eth_abi import encode
from eth_utils import keccak, to_checksum_address
from web3.logs import DISCARD

from exchange.bidding import sealed_deposit
from exchange.chain.artifacts import load_artifact
from exchange.chain.connect import Chain
from exchange.chain.deploy import mechanism_steps
from exchange.chain.registry import ChainEvent, LogReader
from exchange.chain.reverts import decode_revert_data, raise_decoded
from exchange.chain.vocabulary import SkipReason, State
from exchange.errors import ContractRevert, ExchangeError

MAX_AMOUNT = 2**88 - 1
EMBEDDED_GAS = 25_000_000
BPS = 10_000
MIN_RATING_FEE = 10**15  # AuctionHouse.MIN_RATING_FEE: every rated purchase pays at least this fee


class AuctionInputError(ExchangeError, ValueError):
    """An argument to the auction client is malformed (refused before any transaction)."""


class BidRejectedError(ContractRevert):
    """A strict batch (or single bid) reverted because one bid could not be placed."""

    def __init__(self, auction_id: int, reason: int):
        super().__init__("BidRejected", (auction_id, reason),
                         f"BidRejected(auction {auction_id}: {skip_reason(reason)})")
        self.auction_id = auction_id
        self.reason = skip_reason(reason)


def skip_reason(code: int) -> SkipReason | str:
    """The SkipReason of an on-chain code (its number as text if the house's enum lacks it)."""
    try:
        return SkipReason.of(code)
    except ValueError:
        return str(code)


def _bytes_in_text(exc: BaseException | None) -> bytes | None:
    """eth-tester's replayed calls carry the revert data as the text ``b'...'``; recover it."""
    while exc is not None:
        for arg in getattr(exc, "args", ()):
            if isinstance(arg, str) and "b'" in arg or isinstance(arg, str) and 'b"' in arg:
                start = min(i for i in (arg.find("b'"), arg.find('b"')) if i >= 0)
                try:
                    value = ast.literal_eval(arg[start:])
                except (ValueError, SyntaxError):
                    continue
                if isinstance(value, bytes) and len(value) >= 4:
                    return value
        exc = exc.__cause__ or exc.__context__
    return None


def _refine(exc: ContractRevert) -> ContractRevert:
    if exc.error == "Revert":
        data = _bytes_in_text(exc.__cause__ or exc.__context__)
        if data is not None:
            exc = decode_revert_data(data)
    if exc.error == "BidRejected" and len(exc.error_args) == 2 and not isinstance(exc, BidRejectedError):
        return BidRejectedError(*exc.error_args)
    return exc


@dataclass(frozen=True)
class OpenParams:
    """Terms of a new auction; zero means the contract default where noted."""

    device_id: bytes
    mechanism: str  # address of an allow-listed mechanism
    reserve: int = 0
    increment: int = 0
    bidding_period: int = 3600  # seconds from the opening block
    window: int = 0  # open: anti-sniping extension; sealed: reveal window (0 = 1 day)
    access_period: int = 0  # 0 = 30 days
    delivery_window: int = 0  # 0 = 1 day
    bond_bps: int = 0  # 0 = 10000 (full escrow)

    def as_tuple(self) -> tuple:
        return (_b32(self.device_id, "device_id"), to_checksum_address(self.mechanism),
                _uint(self.reserve, 88, "reserve"), _uint(self.increment, 88, "increment"),
                _uint(self.bidding_period, 40, "bidding_period", minimum=1), _uint(self.window, 24, "window"),
                _uint(self.access_period, 40, "access_period"), _uint(self.delivery_window, 40, "delivery_window"),
                _bps(self.bond_bps))


@dataclass(frozen=True)
class AuctionInfo:
    auction_id: int
    device_id: bytes
    seller: str
    mechanism: str
    state: State  # a str enum: compares equal to its name, e.g. "awaiting_key"
    sealed_bids: bool
    bond_bps: int
    time: int  # bidding end (open), delivery deadline (awaiting_key), access until (delivered/rated)
    window: int
    reserve: int
    increment: int
    access_period: int
    delivery_window: int
    first: str | None  # highest bidder; the winner after settlement
    first_amount: int  # its bid; the price after settlement
    second: str | None
    second_amount: int
    fee_bps: int = 0  # the protocol fee of this auction, fixed when it opened


class Balance(NamedTuple):
    free: int
    locked: int


class RatingInfo(NamedTuple):
    """A device's ratings, each weighted by the protocol fee its purchase paid (wei, at least
    MIN_RATING_FEE): the reputation is weighted_sum / weight."""

    weighted_sum: int
    weight: int
    count: int

    @property
    def average(self) -> float | None:
        return self.weighted_sum / self.weight if self.weight else None


class RatingCost(NamedTuple):
    """What rating an auction costs its winner: the fee the purchase paid and the top-up to
    MIN_RATING_FEE that ``rate`` takes from the free balance."""

    fee_paid: int
    top_up: int


@dataclass(frozen=True)
class SealedBid:
    """What a bidder keeps secret between commit and reveal."""

    auction_id: int
    amount: int
    salt: bytes
    deposit: int


def _b32(v, what: str) -> bytes:
    if isinstance(v, str):
        try:
            v = bytes.fromhex(v.removeprefix("0x"))
        except ValueError as exc:
            raise AuctionInputError(f"{what} must be 32 bytes of hex") from exc
    if not isinstance(v, bytes | bytearray) or len(v) != 32:
        raise AuctionInputError(f"{what} must be 32 bytes, got {v!r:.80}")
    return bytes(v)


def _uint(v, bits: int, what: str, minimum: int = 0) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or not minimum <= v < 2**bits:
        raise AuctionInputError(f"{what} must be an integer in [{minimum}, 2**{bits}), got {v!r}")
    return v


def _bps(v) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= BPS:
        raise AuctionInputError(f"bond_bps must be an integer in [0, {BPS}] (0 = full escrow), got {v!r}")
    return v


def _ids(ids: Sequence[int]) -> list[int]:
    return [_uint(i, 256, "auction id", minimum=1) for i in ids]


def _same_length(*seqs: Sequence) -> None:
    if len({len(s) for s in seqs}) > 1:
        raise AuctionInputError(f"batch arguments differ in length: {[len(s) for s in seqs]}")


def send_many(chain: Chain, calls: Iterable[tuple], gas: int | None = None) -> list[dict]:
    """Send ``(fn, sender[, value])`` calls back to back, then wait for all receipts (in order).

    Transactions of one sender keep their order by nonce, so later calls may depend on earlier
    ones when the node mines each transaction as it arrives (anvil, eth-tester). The first
    failing call raises ContractRevert; calls sent before it stay sent.
    """
    hashes = []
    calls = [(c[0], c[1], c[2] if len(c) > 2 else 0) for c in calls]
    for fn, sender, value in calls:
        tx = {"from": sender or chain.deployer, "value": value}
        if gas:
            tx["gas"] = gas
        try:
            hashes.append(fn.transact(tx))
        except Exception as exc:  # noqa: BLE001 - decoded into ContractRevert when it is one
            try:
                raise_decoded(exc, chain.w3)
            except ContractRevert as rev:
                raise _refine(rev) from exc
            raise
    receipts = [chain.w3.eth.wait_for_transaction_receipt(h, timeout=120) for h in hashes]
    for (fn, sender, value), receipt in zip(calls, receipts, strict=True):
        if receipt["status"] != 1:
            try:
                fn.call({"from": sender or chain.deployer, "value": value}, block_identifier=receipt["blockNumber"] - 1)
            except Exception as exc:  # noqa: BLE001 - decoded into ContractRevert when it is one
                try:
                    raise_decoded(exc, chain.w3)
                except ContractRevert as rev:
                    raise _refine(rev) from exc
            raise ContractRevert("Revert", (), f"transaction {receipt['transactionHash'].hex()} reverted")
    return receipts


class AuctionHouseClient:
    """Typed calls to one deployed AuctionHouse."""

    def __init__(self, chain: Chain, address: str, mechanisms: dict[str, str] | None = None):
        self.chain = chain
        self.address = to_checksum_address(address)
        self.abi = load_artifact("AuctionHouse")["abi"]
        self.contract = chain.w3.eth.contract(address=self.address, abi=self.abi)
        self.mechanisms = dict(mechanisms or {})  # name -> address, e.g. {"english": "0x..."}
        self._traits: dict[str, tuple[bool, bool]] = {}
        # eth-tester estimates gas by bisection (many EVM runs per transaction): give embedded
        # chains a fixed limit instead; real nodes estimate natively and fast.
        self.gas = EMBEDDED_GAS if chain.kind == "embedded" else None

    @classmethod
    def from_manifest(cls, chain: Chain, manifest: dict) -> AuctionHouseClient:
        c = manifest["contracts"]
        mechs = {s.mechanism: c[s.name]["address"] for s in mechanism_steps() if s.name in c}
        return cls(chain, c["AuctionHouse"]["address"], mechs)

    def mechanism(self, name_or_address: str) -> str:
        """The address of a mechanism given its name ("english", "sealed-second-price") or address."""
        if name_or_address in self.mechanisms:
            return self.mechanisms[name_or_address]
        if isinstance(name_or_address, str) and name_or_address.startswith("0x") and len(name_or_address) == 42:
            return to_checksum_address(name_or_address)
        raise AuctionInputError(f"unknown mechanism {name_or_address!r}; known: {sorted(self.mechanisms)}")

    def traits(self, name_or_address: str) -> tuple[bool, bool]:
        """(sealed bids, second priced) as the mechanism's contract declares them (read once)."""
        address = self.mechanism(name_or_address)
        if address not in self._traits:
            fn = self.chain.w3.eth.contract(address=address, abi=load_artifact("IAuctionMechanism")["abi"]).functions
            self._traits[address] = tuple(self._call(fn.traits()))
        return self._traits[address]

    def sealed_mechanisms(self) -> frozenset[str]:
        """The (lower-case) addresses of the known mechanisms that take sealed bids."""
        return frozenset(a.lower() for a in self.mechanisms.values() if self.traits(a)[0])

    # ---- sending ----
    def _tx(self, fn, sender: str | None, value: int = 0):
        try:
            if self.gas:  # one dry run at the pending block decodes a revert exactly like estimation would
                try:
                    fn.call({"from": sender or self.chain.deployer, "value": value, "gas": self.gas}, block_identifier="pending")
                except Exception as exc:  # noqa: BLE001 - decoded into ContractRevert when it is one
                    raise_decoded(exc, self.chain.w3)
                    raise
            return self.chain.transact(fn, sender=sender, value=value, gas=self.gas)
        except ContractRevert as exc:
            raise _refine(exc) from exc

    def fns(self):
        """The web3 function namespace (to build calls for :func:`send_many`)."""
        return self.contract.functions

    # ---- governance ----
    def register_mechanism(self, mechanism: str, sender: str | None = None):
        return self._tx(self.contract.functions.registerMechanism(to_checksum_address(mechanism)), sender)

    def unregister_mechanism(self, mechanism: str, sender: str | None = None):
        return self._tx(self.contract.functions.unregisterMechanism(to_checksum_address(mechanism)), sender)

    def set_fee(self, bps: int, account: str, sender: str | None = None):
        return self._tx(self.contract.functions.setFee(_uint(bps, 16, "fee bps"), to_checksum_address(account)), sender)

    # ---- funds ----
    def deposit(self, amount: int, sender: str):
        return self._tx(self.contract.functions.deposit(), sender, value=_uint(amount, 88, "amount", minimum=1))

    def withdraw(self, amount: int, sender: str):
        return self._tx(self.contract.functions.withdraw(_uint(amount, 256, "amount", minimum=1)), sender)

    def withdraw_all(self, sender: str):
        return self._tx(self.contract.functions.withdrawAll(), sender)

    def register_buyer_key(self, x25519_public: bytes, sender: str):
        return self._tx(self.contract.functions.registerBuyerKey(_b32(x25519_public, "x25519 public key")), sender)

    # ---- opening ----
    def open(self, params: OpenParams, sender: str) -> int:
        """Open one auction; returns its id."""
        receipt = self._tx(self.contract.functions.open(params.as_tuple()), sender)
        return self._opened_ids(receipt)[0]

    def open_batch(self, params: Sequence[OpenParams], sender: str) -> list[int]:
        """Open many auctions in one transaction; returns their ids."""
        if not params:
            return []
        receipt = self._tx(self.contract.functions.openBatch([p.as_tuple() for p in params]), sender)
        return self._opened_ids(receipt)

    def _opened_ids(self, receipt) -> list[int]:
        return [e["args"]["auctionId"] for e in self.contract.events.AuctionOpened().process_receipt(receipt, errors=DISCARD)]

    # ---- bidding ----
    def bid(self, auction_id: int, amount: int, sender: str):
        return self._tx(self.contract.functions.bid(_ids([auction_id])[0], _uint(amount, 256, "amount")), sender)

    def bid_batch_fn(self, auction_ids: Sequence[int], amounts: Sequence[int], strict: bool = False):
        _same_length(auction_ids, amounts)
        return self.contract.functions.bidBatch(_ids(auction_ids), [_uint(a, 256, "amount") for a in amounts], bool(strict))

    def bid_batch(self, auction_ids: Sequence[int], amounts: Sequence[int], sender: str, strict: bool = False):
        """Place many open bids in one transaction. Returns ``(receipt, skipped)`` where skipped
        maps auction id -> reason name for bids that were not placed (non-strict mode)."""
        receipt = self._tx(self.bid_batch_fn(auction_ids, amounts, strict), sender)
        return receipt, self.skipped(receipt)

    def skipped(self, receipt) -> dict[int, str]:
        return {e["args"]["auctionId"]: skip_reason(e["args"]["reason"])
                for e in self.contract.events.BidSkipped().process_receipt(receipt, errors=DISCARD)}

    def commitment(self, bidder: str, auction_id: int, amount: int, salt: bytes) -> bytes:
        """The commitment the house expects (computed locally; equals ``commitmentOf``)."""
        return keccak(encode(["address", "address", "uint256", "uint256", "uint256", "bytes32"],
                             [to_checksum_address(bidder), self.address, auction_id, self.chain.chain_id,
                              amount, _b32(salt, "salt")]))

    def seal_bids(self, bidder: str, auction_ids: Sequence[int], amounts: Sequence[int],
                  deposits: Sequence[int] | None = None) -> list[SealedBid]:
        """Fresh random salts for sealed bids (keep the result secret until the reveal).

        Each commit locks a deposit that everyone can read (BidCommitted). By default it is the
        bid rounded up to the next 1, 2 or 5 x 10^k wei (``exchange.bidding.sealed_deposit``),
        which tells only that step; pass ``deposits`` for a ceiling of your own (it must cover
        the bond of the bid, or the reveal is refused)."""
        _same_length(auction_ids, amounts, deposits if deposits is not None else amounts)
        if deposits is None:
            deposits = [sealed_deposit(_uint(a, 88, "amount", minimum=1)) for a in amounts]
        return [SealedBid(i, _uint(a, 88, "amount", minimum=1), secrets.token_bytes(32), _uint(d, 88, "deposit", 1))
                for i, a, d in zip(_ids(auction_ids), amounts, deposits, strict=True)]

    def commit_batch_fn(self, bids: Sequence[SealedBid], bidder: str, strict: bool = False):
        return self.contract.functions.commitBatch(
            [b.auction_id for b in bids], [self.commitment(bidder, b.auction_id, b.amount, b.salt) for b in bids],
            [b.deposit for b in bids], bool(strict))

    def commit_batch(self, bids: Sequence[SealedBid], sender: str, strict: bool = False):
        receipt = self._tx(self.commit_batch_fn(bids, sender, strict), sender)
        return receipt, self.skipped(receipt)

    def reveal_batch_fn(self, bids: Sequence[SealedBid], strict: bool = False):
        return self.contract.functions.revealBatch([b.auction_id for b in bids], [b.amount for b in bids],
                                                   [b.salt for b in bids], bool(strict))

    def reveal_batch(self, bids: Sequence[SealedBid], sender: str, strict: bool = False):
        receipt = self._tx(self.reveal_batch_fn(bids, strict), sender)
        return receipt, self.skipped(receipt)

    def forfeit_unrevealed(self, auction_id: int, bidders: Sequence[str], sender: str | None = None):
        return self._tx(self.contract.functions.forfeitUnrevealed(
            _ids([auction_id])[0], [to_checksum_address(b) for b in bidders]), sender)

    def release_commitments(self, auction_id: int, bidders: Sequence[str], sender: str | None = None):
        """Return the commitment deposits of a cancelled sealed auction to their bidders."""
        return self._tx(self.contract.functions.releaseCommitments(
            _ids([auction_id])[0], [to_checksum_address(b) for b in bidders]), sender)

    # ---- settlement and after ----
    def settle_batch(self, auction_ids: Sequence[int], sender: str | None = None):
        return self._tx(self.contract.functions.settleBatch(_ids(auction_ids)), sender)

    def deliver_key(self, auction_id: int, sealed_key: bytes, sender: str):
        if not isinstance(sealed_key, bytes | bytearray) or not 1 <= len(sealed_key) <= 4096:
            raise AuctionInputError("sealed_key must be 1..4096 bytes")
        return self._tx(self.contract.functions.deliverKey(_ids([auction_id])[0], bytes(sealed_key)), sender)

    def reclaim(self, auction_id: int, sender: str):
        return self._tx(self.contract.functions.reclaim(_ids([auction_id])[0]), sender)

    def rate(self, auction_id: int, score: int, sender: str):
        """Rate a delivered auction the sender won; takes ``rating_cost(auction_id).top_up`` from
        the sender's free balance (InsufficientFreeBalance(free, top_up) if it is short)."""
        return self._tx(self.contract.functions.rate(_ids([auction_id])[0], _uint(score, 8, "score")), sender)

    # ---- getters ----
    def _call(self, fn):
        try:
            return self.chain.call(fn)
        except ContractRevert as exc:
            raise _refine(exc) from exc

    def balance_of(self, account: str) -> Balance:
        return Balance(*self._call(self.contract.functions.balanceOf(to_checksum_address(account))))

    def buyer_key_of(self, account: str) -> bytes:
        return bytes(self._call(self.contract.functions.buyerKeyOf(to_checksum_address(account))))

    def commit_of(self, auction_id: int, bidder: str) -> tuple[bytes, int]:
        h, dep = self._call(self.contract.functions.commitOf(auction_id, to_checksum_address(bidder)))
        return bytes(h), dep

    def auction(self, auction_id: int) -> AuctionInfo:
        v = self._call(self.contract.functions.auction(auction_id))
        zero = "0x" + "0" * 40
        return AuctionInfo(auction_id, bytes(v[0]), v[1], v[2], State.of(v[3]), v[4], v[5], v[6], v[7], v[8], v[9],
                           v[10], v[11], None if v[12] == zero else v[12], v[13], None if v[14] == zero else v[14], v[15], v[16])

    def access_until(self, auction_id: int) -> int:
        return self._call(self.contract.functions.accessUntil(auction_id))

    def rating_of(self, device_id: bytes) -> RatingInfo:
        return RatingInfo(*self._call(self.contract.functions.ratingOf(_b32(device_id, "device_id"))))

    def rating_cost(self, auction_id: int) -> RatingCost:
        """What ``rate`` will charge: the house computes the fee paid as price x the auction's fee
        (``auction(id)``) and tops it up to MIN_RATING_FEE from the rater's free balance."""
        a = self.auction(auction_id)
        paid = a.first_amount * a.fee_bps // BPS
        return RatingCost(paid, max(0, MIN_RATING_FEE - paid))

    def is_mechanism(self, address: str) -> bool:
        return self._call(self.contract.functions.isMechanism(to_checksum_address(address)))

    def auction_count(self) -> int:
        return self._call(self.contract.functions.auctionCount())

    def fee(self) -> tuple[int, str]:
        return tuple(self._call(self.contract.functions.fee()))

    def ether_balance(self) -> int:
        """The house's ether balance (equals the sum of free, locked and owed balances)."""
        return self.chain.w3.eth.get_balance(self.address)

    # ---- events ----
    def reader(self) -> LogReader:
        return LogReader(self.chain, {self.address: self.abi})

    def events(self, from_block: int = 0, to_block: int | None = None, names: Iterable[str] | None = None) -> list[ChainEvent]:
        """Decoded house events in block order, optionally only those named."""
        r = self.reader()
        evs = r.read(from_block, r.head() if to_block is None else to_block)
        wanted = set(names) if names is not None else None
        return [e for e in evs if wanted is None or e.name in wanted]

    def settlements(self, from_block: int = 0, to_block: int | None = None) -> list[ChainEvent]:
        """AuctionSettled events (auctionId, winner, price, deliveryDeadline) for device agents."""
        return self.events(from_block, to_block, {"AuctionSettled"})
