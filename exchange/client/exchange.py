"""``Exchange``: the data scientist's entry point, the web app's operations as Python calls.

    from exchange.client import Exchange

    ex = Exchange.connect("http://127.0.0.1:8545", keystore="me.json", password="...",
                          deployments_dir="deployments", database_url="sqlite:///catalog.db")
    fridges = ex.search(device_type="Refrigerator", properties=["temperature"])
    plan = ex.plan(fridges, max_price_eth=0.01, budget_eth=0.5)    # targets, amounts, batches, gas
    ex.place(plan)                                                   # one transaction per batch
    keys = ex.wait_for_keys(plan)                                    # settled and delivered
    df = ex.read(keys, start="2026-12-01", end="2026-12-07")         # one tidy frame
    df.to_parquet("fridges.parquet")

Searching reads the catalog (SQL, indexed from the chain); planning and placing go through
``exchange.market``, the same code path as the web app's batch bids; keys are opened with
the X25519 key derived from the account's key exactly as the web app derives it, so one
keystore sees the same keys in both. Every error is an ``ExchangeError``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from exchange.catalog import Catalog, CatalogFilter
from exchange.chain.auction import AuctionHouseClient
from exchange.chain.connect import Chain, load_keystore, rpc_chain
from exchange.chain.deploy import load_manifest
from exchange.client.errors import ClientError, ClientInputError, NotFoundError, WaitTimeout
from exchange.client.frames import devices_frame, readings_frame
from exchange.client.reader import Key, history_forms, read_many
from exchange.config import load_settings
from exchange.crypto import CryptoError, open_sealed, x25519_public
from exchange.crypto.bid_secrets import SealedStore
from exchange.crypto.delivery import check_delivered, key_context
from exchange.crypto.tokens import read_claims_unverified
from exchange.crypto.userkeys import derive_x25519
from exchange.errors import ContractRevert, DeploymentError
from exchange.market import (
    Outcome,
    PlanView,
    estimate_plan,
    plan_from_targets,
    send_plan,
    targets,
)

WEI_PER_ETH = 10**18
SEARCH_PAGE = 200
DEFAULT_STEP_S = 60
DEPOSIT_GAS = 45_000  # a deposit into the house (an SSTORE and an event), for the plan's cost


def to_wei(eth) -> int:
    """An amount in ETH (number or text) as wei; refused when negative or not a number."""
    try:
        wei = Decimal(str(eth)) * WEI_PER_ETH
    except InvalidOperation:
        raise ClientInputError(f"not an amount of ETH: {eth!r}") from None
    if not wei.is_finite() or wei < 0 or wei != wei.to_integral_value():
        raise ClientInputError(f"not a usable amount of ETH: {eth!r}")
    return int(wei)


def to_unix(when, default: int) -> int:
    """A time as unix seconds: None (``default``), seconds, a datetime or ISO text (UTC if naive)."""
    if when is None:
        return default
    if isinstance(when, int | float) and not isinstance(when, bool):
        return int(when)
    try:
        ts = pd.Timestamp(when)
    except (ValueError, TypeError):
        raise ClientInputError(f"not a time: {when!r} (give unix seconds, a datetime or ISO 8601 text)") from None
    if ts is pd.NaT:
        raise ClientInputError(f"not a time: {when!r}")
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return int(ts.timestamp())


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeviceRef:
    """What planning needs of a device (a catalog row)."""

    id: str
    title: str
    reserve: int


@dataclass
class Plan:
    """Bids the planner chose, their total and what sending them is expected to cost."""

    view: PlanView
    gas: int  # all batches together (estimated, with 20% headroom)
    gas_wei: int  # at the node's gas price now
    free_deposit: int  # wei free in the house for this account now

    @property
    def count(self) -> int:
        return self.view.count

    @property
    def total_wei(self) -> int:
        return self.view.total

    @property
    def top_up_wei(self) -> int:
        """Deposit still missing for every planned bid."""
        return max(0, self.view.total - self.free_deposit)

    @property
    def auction_ids(self) -> list[int]:
        return [b.auction_id for batch in self.view.batches for b in batch]

    def to_frame(self) -> pd.DataFrame:
        rows = [{"device_id": b.device_id, "auction_id": b.auction_id, "amount_eth": b.amount / WEI_PER_ETH,
                 "amount_wei": b.amount, "sealed": b.sealed, "batch": i}
                for i, batch in enumerate(self.view.batches, 1) for b in batch]
        return pd.DataFrame(rows, columns=["device_id", "auction_id", "amount_eth", "amount_wei", "sealed", "batch"])

    def skipped_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{"device_id": s.device_id, "title": s.title, "reason": s.reason} for s in self.view.skipped],
                            columns=["device_id", "title", "reason"])

    def summary(self) -> str:
        return (f"{self.count} bid(s) in {len(self.view.batches)} transaction(s), {self.total_wei / WEI_PER_ETH:.6g} ETH "
                f"locked; gas about {self.gas:,} ({self.gas_wei / WEI_PER_ETH:.6g} ETH); deposit to add "
                f"{self.top_up_wei / WEI_PER_ETH:.6g} ETH; {len(self.view.skipped)} device(s) skipped")


@dataclass
class _Progress:
    """``exchange.market.Progress`` feeding a callback and/or a tqdm bar (one step per bid)."""

    total: int
    bar: bool
    callback: Callable[[str, list[Outcome]], None] | None = None
    stage: str = ""
    outcomes: list[Outcome] = field(default_factory=list)
    tx_hashes: list[str] = field(default_factory=list)

    def __post_init__(self):
        self._bar = tqdm(total=self.total, unit="bid", desc="placing bids", disable=not self.bar)

    def record(self, outcomes: list[Outcome], tx_hash: str | None = None) -> None:
        self.outcomes.extend(outcomes)
        if tx_hash:
            self.tx_hashes.append(tx_hash)
        self._bar.update(len(outcomes))
        if self.callback:
            self.callback(self.stage, outcomes)

    def close(self) -> None:
        self._bar.close()


@dataclass(frozen=True)
class StreamMessage:
    """One message of a bought stream span: its signature and hash link checked, decrypted."""

    device_id: str
    seq: int
    data: object  # the decoded JSON reading (bytes when it is not JSON)


class Exchange:
    """A connection to one deployment: chain, catalog, and (with a keystore) the account that buys."""

    def __init__(self, chain: Chain, manifest: dict, catalog: Catalog, *, eth_key: bytes | None = None,
                 state_dir: Path | None = None, confirmations: int = 0):
        self.chain, self.manifest, self.catalog = chain, manifest, catalog
        self.house = AuctionHouseClient.from_manifest(chain, manifest)
        self.key_problems: dict[int, str] = {}  # auction id -> why its delivered key was not used (last keys())
        self._eth_key = eth_key
        self.address = chain.accounts[0] if eth_key else None
        self.state_dir = Path(state_dir) if state_dir else load_settings().state_dir
        self.confirmations = confirmations

    # ------------------------------------------------------------------ connecting
    @classmethod
    def connect(cls, rpc_url: str | None = None, keystore: str | Path | None = None, password: str | None = None, *,
                deployments_dir: str | Path | None = None, database_url: str | None = None,
                config: str | Path | None = None) -> Exchange:
        """Connect to a chain (``rpc_url``) and the catalog. With a ``keystore`` (an encrypted
        JSON keystore; ``password`` or $THINGBID_KEYSTORE_PASSWORD) transactions are signed here,
        with this key only. Unset arguments come from the settings (``config``: a TOML file such as
        the ``client.toml`` that ``thingbid up`` writes in its state dir; else $THINGBID_*)."""
        settings = load_settings(config) if config else load_settings()
        account = load_keystore(keystore, password) if keystore else None
        chain = rpc_chain(rpc_url or settings.rpc_url, account=account)
        ddir = Path(deployments_dir or settings.deployments_dir)
        manifest = load_manifest(chain, ddir)
        if manifest is None:
            raise DeploymentError(f"no deployment manifest for chain {chain.chain_id} in {ddir}: deploy first or "
                                  "pass deployments_dir")
        catalog = Catalog(database_url or settings.database_url or settings.sqlite_url("catalog"))
        return cls(chain, manifest, catalog, eth_key=bytes(account.key) if account else None,
                   state_dir=settings.state_dir, confirmations=settings.confirmations)

    def close(self) -> None:
        self.catalog.close()

    def __enter__(self) -> Exchange:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _require_account(self, what: str) -> str:
        if self.address is None:
            raise ClientError(f"{what} needs an account: connect with keystore=...")
        return self.address

    @property
    def x25519_private(self) -> bytes:
        """The key-delivery key (derived from the account's key, as the web app does)."""
        self._require_account("opening keys")
        return derive_x25519(self._eth_key)

    # ------------------------------------------------------------------ finding devices
    def search(self, *, text: str | None = None, device_type: str | None = None,
               properties: Iterable[str] = (), units: Iterable[str] = (), near: tuple[float, float, float] | None = None,
               geohash: str | None = None, max_reserve_eth=None, attested_only: bool = False,
               min_rating: float | None = None, sort: str = "newest", limit: int = 1000) -> pd.DataFrame:
        """Devices matching every filter given, as a frame (one row per device, ``properties`` and
        ``units`` as lists); ``near`` is (lat, lon, radius km); at most ``limit`` rows."""
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ClientInputError(f"limit must be a positive integer, got {limit!r}")
        raw = {"text": text, "device_type": device_type, "properties": list(properties), "units": list(units),
               "geohash_prefix": geohash, "attested_only": attested_only, "min_reputation": min_rating, "sort": sort,
               "reserve_max": to_wei(max_reserve_eth) if max_reserve_eth is not None else None,
               "per_page": min(SEARCH_PAGE, limit)}
        if near is not None:
            try:
                raw["lat"], raw["lon"], raw["radius_km"] = (float(x) for x in near)
            except (TypeError, ValueError):
                raise ClientInputError(f"near must be (lat, lon, radius_km), got {near!r}") from None
        base = CatalogFilter.parse({k: v for k, v in raw.items() if v is not None})
        rows: list[dict] = []
        page = 1
        while len(rows) < limit:
            found = self.catalog.search(base.model_copy(update={"page": page}))
            rows += [d.model_dump() for d in found.items]
            if len(found.items) < base.per_page:
                break
            page += 1
        rows = rows[:limit]
        affs = self.catalog.affordances_of([r["device_id"] for r in rows])
        for r in rows:
            mine = affs.get(r["device_id"], [])
            r["properties"] = [a.name for a in mine if a.kind == "property"]
            r["units"] = sorted({a.unit for a in mine if a.unit})
        return devices_frame(rows)

    def _device_refs(self, devices) -> list[DeviceRef]:
        if isinstance(devices, pd.DataFrame):
            if "device_id" not in devices:
                raise ClientInputError("the devices frame needs a device_id column (as search returns)")
            ids = [str(x) for x in devices["device_id"]]
        elif isinstance(devices, str):
            ids = [devices]
        else:
            ids = [str(x) for x in devices]
        refs = []
        for did in dict.fromkeys(i.lower() for i in ids):
            d = self.catalog.device(did)
            if d is None:
                raise NotFoundError(f"device {did} is not in the catalog")
            refs.append(DeviceRef(d.device_id, d.title, d.reserve_wei))
        return refs

    # ------------------------------------------------------------------ bidding
    def _auctions(self, wait: float = 10.0):
        """The catalog's auction tables (filled by the indexer service), once they have caught up
        with the chain as it is now (read your own bids), or after ``wait`` seconds as they are."""
        target = self.chain.block_number() - self.confirmations
        end = time.monotonic() + wait
        reads = self.catalog.auctions
        while reads.indexed_through() < target and time.monotonic() < end:
            time.sleep(0.1)
        return reads

    def plan(self, devices, *, max_price_eth=None, budget_eth=None, max_price_wei: int | None = None,
             budget_wei: int | None = None) -> Plan:
        """Bids on ``devices`` (a search frame or device ids): at most the max price per device,
        the budget in total, in batches of 100 per transaction (``exchange.market``)."""
        max_price = max_price_wei if max_price_wei is not None else (to_wei(max_price_eth) if max_price_eth is not None
                                                                     else None)
        budget = budget_wei if budget_wei is not None else (to_wei(budget_eth) if budget_eth is not None else None)
        if max_price is None or budget is None:
            raise ClientInputError("give max_price_eth (or _wei) and budget_eth (or _wei)")
        bidder = self.address or ""
        found = targets(self._auctions(), self._device_refs(devices), bidder, self.chain.now(),
                        self.house.sealed_mechanisms())
        view = plan_from_targets(found, max_price, budget)
        gas = wei = free = 0
        if bidder and view.batches:
            gas, wei = estimate_plan(self.house, bidder, view)
            if self.house.buyer_key_of(bidder) != x25519_public(self.x25519_private):
                g, w = self.chain.estimate_cost(self.house.fns().registerBuyerKey(x25519_public(self.x25519_private)),
                                                sender=bidder)
                gas, wei = gas + g, wei + w
            free = self.house.balance_of(bidder).free
            if view.total > free:
                g = DEPOSIT_GAS * 6 // 5
                gas, wei = gas + g, wei + g * self.chain.gas_price()
        return Plan(view, gas, wei, free)

    def place(self, plan: Plan, *, top_up: bool = True, progress: bool = True,
              on_batch: Callable[[str, list[Outcome]], None] | None = None) -> pd.DataFrame:
        """Send the plan: register the key-delivery key (once), deposit what is missing (``top_up``),
        then one transaction per batch with a progress bar. Returns one row per bid (status
        placed/skipped/failed and why)."""
        me = self._require_account("placing bids")
        pub = x25519_public(self.x25519_private)
        if self.house.buyer_key_of(me) != pub:
            self.house.register_buyer_key(pub, sender=me)
        if top_up:
            free = self.house.balance_of(me).free
            if plan.total_wei > free:
                self.house.deposit(plan.total_wei - free, sender=me)
        bar = _Progress(plan.count, progress, on_batch)
        store = SealedStore(self.state_dir / "sealed", me, self._eth_key)
        try:
            send_plan(self.house, me, plan.view, bar, keep_sealed=store.add)
        finally:
            bar.close()
        return pd.DataFrame([vars(o) for o in bar.outcomes], columns=["device_id", "auction_id", "status", "reason",
                                                                      "amount"])

    def bid(self, devices, *, max_price_eth, budget_eth, progress: bool = True) -> tuple[Plan, pd.DataFrame]:
        """``plan`` then ``place``."""
        plan = self.plan(devices, max_price_eth=max_price_eth, budget_eth=budget_eth)
        return plan, self.place(plan, progress=progress)

    # ------------------------------------------------------------------ keys
    def keys(self, *, active_only: bool = False) -> list[Key]:
        """Every key delivered to this account, opened (the sealed box never leaves this process)."""
        me = self._require_account("keys").lower()
        now = self.chain.now()
        out = []
        self.key_problems = {}
        signing_keys: dict[str, bytes] = {}
        for row in sorted(self._auctions().delivered_to(me), key=lambda r: r.auction_id):
            aid = row.auction_id
            try:
                token = open_sealed(self.x25519_private, row.sealed_key, key_context(aid)).decode("ascii")
                read_claims_unverified(token)
            except (CryptoError, UnicodeDecodeError, ValueError):
                continue  # sealed to another key-delivery key of this account (re-registered): not openable here
            # Every read checks the key against the registry's token-signing key of the device the
            # auction sold, and against the sale (issue 12 case 4); a key that fails is not used.
            device = row.device_id
            if device not in signing_keys:
                signing_keys[device] = self._registry().signing_key_of(bytes.fromhex(device.removeprefix("0x")))
            claims, problem = check_delivered(token, signing_keys[device], device_id=device, auction_id=aid,
                                              winner=me, access_until=row.access_until)
            if problem:
                self.key_problems[aid] = problem
                log.warning(problem)
                continue
            if active_only and claims.not_after <= now:
                continue
            out.append(Key(aid, "0x" + claims.device_id, token, claims.not_before, claims.not_after))
        return out

    def _registry(self):
        from exchange.chain.registry import RegistryClient

        reg = self.__dict__.get("_registry_client")
        if reg is None:
            reg = self._registry_client = RegistryClient.from_manifest(self.chain, self.manifest)
        return reg

    def keys_frame(self, keys: list[Key] | None = None) -> pd.DataFrame:
        keys = self.keys() if keys is None else keys
        return pd.DataFrame([{"auction_id": k.auction_id, "device_id": k.device_id,
                              "not_before": pd.Timestamp(k.not_before, unit="s", tz="UTC"),
                              "not_after": pd.Timestamp(k.not_after, unit="s", tz="UTC"), "token": k.token}
                             for k in keys], columns=["auction_id", "device_id", "not_before", "not_after", "token"])

    def wait_for_keys(self, auctions=None, *, timeout: float = 600.0, settle: bool = True, poll: float = 1.0,
                      progress: bool = True) -> list[Key]:
        """Wait until every auction in ``auctions`` (a Plan, auction ids; default: every auction this
        account bid on that is still running or that it won) is settled and, where this account won, its key
        delivered. With ``settle`` the client settles ended auctions itself (anyone may), so it does
        not depend on the seller's timing. Returns the keys of the auctions won."""
        me = self._require_account("waiting for keys").lower()
        reads = self._auctions()
        if auctions is None:
            rows = [reads.auction(s.auction_id) for s in reads.standings(me)]
            # Still running, or won and waiting for its key (settled, not delivered yet), or delivered.
            ids = {r.auction_id for r in rows if not r.closed or r.winner == me}
        elif isinstance(auctions, Plan):
            ids = set(auctions.auction_ids)
        else:
            ids = {int(a) for a in auctions}
        pending = set(ids)
        won: dict[int, Key] = {}
        deadline = time.monotonic() + timeout
        bar = tqdm(total=len(ids), unit="auction", desc="waiting for keys", disable=not progress)
        try:
            while pending:
                now = self.chain.now()
                delivered = {a: self.catalog.auctions.auction(a) for a in self.catalog.auctions.delivered(pending)}
                due = []
                for aid in sorted(pending):
                    info = self.house.auction(aid)
                    if aid in delivered:
                        if delivered[aid].winner == me:
                            won.update({k.auction_id: k for k in self.keys() if k.auction_id == aid})
                        pending.discard(aid)
                        bar.update(1)
                    elif info.state == "open":
                        closes = info.time + (info.window if info.sealed_bids else 0)
                        if settle and closes <= now:
                            due.append(aid)
                    elif (info.first or "").lower() != me or info.state in ("unsold", "reclaimed"):
                        pending.discard(aid)  # lost, unsold or reclaimed: no key comes
                        bar.update(1)
                if due:
                    try:
                        self.house.settle_batch(due, sender=self.address)
                    except ContractRevert:
                        pass  # settled by someone else meanwhile, or not yet past the end by the block's time
                if pending:
                    if time.monotonic() >= deadline:
                        raise WaitTimeout(f"{len(pending)} auction(s) not settled and delivered within {timeout:g} s: "
                                          f"{', '.join(map(str, sorted(pending)[:10]))}")
                    time.sleep(poll)
        finally:
            bar.close()
        return [won[a] for a in sorted(won)]

    # ------------------------------------------------------------------ data
    def read(self, keys, start=None, end=None, *, properties: Iterable[str] | None = None, step: int = DEFAULT_STEP_S,
             on_error: str = "raise", workers: int = 8, progress: bool = True) -> pd.DataFrame:
        """One tidy frame (device, property, time UTC, value, unit) of the readings the keys buy in
        [start, end] (default: each key's whole period up to now), paging each device's history
        (at most one reading per ``step`` seconds: the last of each bucket). ``on_error="skip"``
        leaves out devices that do not answer (listed in ``frame.attrs["errors"]``)."""
        if on_error not in ("raise", "skip"):
            raise ClientInputError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        if isinstance(step, bool) or not isinstance(step, int) or step < 1:
            raise ClientInputError(f"step must be a positive integer of seconds, got {step!r}")
        keys = [keys] if isinstance(keys, Key) else list(keys)
        if not keys:
            raise ClientInputError("no keys to read with")
        if not all(isinstance(k, Key) for k in keys):
            raise ClientInputError("keys must be Key objects (from keys() or wait_for_keys())")
        now = self.chain.now()
        lo = to_unix(start, min(k.not_before for k in keys))
        hi = to_unix(end, now)
        if hi < lo:
            raise ClientInputError(f"end ({hi}) is before start ({lo})")
        tds = self.catalog.tds_of([k.device_id for k in keys])
        jobs = [(k, history_forms(tds.get(k.device_id))) for k in keys]
        errors: dict[str, str] = {}
        bar = tqdm(total=len(jobs), unit="device", desc="reading", disable=not progress)

        def done(device_id, exc):
            if exc is not None:
                errors[device_id] = str(exc)
            bar.update(1)

        try:
            series = read_many(jobs, lo, hi, step, properties, workers=workers,
                               on_device=done if on_error == "skip" else (lambda d, e: bar.update(1)))
        finally:
            bar.close()
        frame = readings_frame(series)
        frame.attrs["errors"] = errors
        return frame

    def stream(self, device_id: str, span: int, *, stream: str | None = None, timeout: float | None = None,
               ledger: str = "ethereum") -> Iterator[StreamMessage]:
        """Buy the next ``span`` messages of a device's live stream on the chain's MessageBoard
        (``ledger="ethereum"``) and yield them as they come, each signature- and link-checked and
        decrypted; stops after the span, or after ``timeout`` seconds."""
        from exchange.chain.registry import RegistryClient
        from exchange.ledger.ethereum import EthereumLedger
        from exchange.streams import StreamBuyer
        from exchange.streams.records import RegistryRecords

        me = self._require_account("buying a stream")
        if ledger != "ethereum":
            raise ClientInputError("the client buys streams on the chain it is connected to (ledger='ethereum'); "
                                   "`thingbid stream buy --ledger tangle` buys on the tangle")
        contracts = self.manifest.get("contracts", {})
        if "MessageBoard" not in contracts:
            raise DeploymentError(f"no MessageBoard deployed on chain {self.chain.chain_id}")
        board = EthereumLedger.connect(self.chain, contracts["MessageBoard"]["address"], me, self.confirmations)
        records = RegistryRecords(RegistryClient.from_manifest(self.chain, self.manifest))
        buyer = StreamBuyer(board, self.x25519_private, registry=records)
        purchase = buyer.buy(device_id, span, stream)
        for r in buyer.follower(purchase).follow(timeout=timeout):
            try:
                data = r.json()
            except ValueError:
                data = r.data
            yield StreamMessage(purchase.offer.device_id, r.seq, data)

    def now(self) -> datetime:
        """Chain time as a UTC datetime."""
        return datetime.fromtimestamp(self.chain.now(), UTC)
