"""A tangle node: validation, storage, solidification, milestones, gossip and the coordinator.

Ingest path (``ingest_many``): decode -> network -> duplicate -> PoW (the id hash) ->
signature -> timestamp window -> kind rules -> parents known (API) -> rate limit ->
sequence replay; then one SQL transaction stores the batch, and only after it commits are
the transactions indexed, gossiped and acknowledged. Transactions from peers may arrive
before their parents: they are stored, wait in the solidification index, and the missing
parents are fetched from peers.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import multiprocessing
import queue
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exchange.border import UINT63, BorderError, check_base_url
from exchange.errors import ConfigError
from exchange.ratelimit import RateLimiter
from exchange.tangle import peerauth, store
from exchange.tangle import tx as txm
from exchange.tangle.errors import TangleRejected
from exchange.tangle.ledger import Account, apply_cone, cone_order, genesis_root, mutation_leaves, next_root
from exchange.tangle.spam import AdaptivePow
from exchange.tangle.tipsel import Graph, TipSelector
from exchange.tangle.tx import GENESIS_ID, MILESTONE, VALUE, Tx

log = logging.getLogger(__name__)

DEV_SUPPLY = 10**15


def dev_key(network: int, role: str):
    """Deterministic dev-network keys (coordinator, faucet): public knowledge, never for production."""
    return txm.key_from_seed(f"thingbid-tangle-dev:{network}:{role}".encode())


_NEW_MILESTONE = b"\xff" * 32  # stands for the milestone being built while its cone is ordered
PEER_SECRET_HEADER = "X-Tangle-Peer-Secret"
PEER_HEADER = "X-Tangle-Peer"  # the sending node's own URL: per-peer limits on gossip
MAX_PEER_ANSWER = 16 * 1024 * 1024
MAX_SNAPSHOT = 512 * 1024 * 1024
VERIFY_PARALLEL_MIN = 64


@dataclass
class NodeConfig:
    db_url: str = "sqlite:///tangle.db"
    network: int = 1
    dev: bool = True
    difficulty: int = 10
    coordinator_pubkey: str | None = None  # hex; dev default: the dev coordinator key
    coordinator_seed: str | None = None  # hex secret seed; dev default derived when run_coordinator
    run_coordinator: bool = True
    milestone_interval: float = 0.1
    genesis: dict[str, int] | None = None  # address -> amount; dev default: the faucet gets DEV_SUPPLY
    faucet_max: int = 10**9
    alpha: float = 0.5
    lazy_age_ms: int = 60_000
    walk_depth: int = 3  # entry point: this many milestones below the latest
    rate_per_s: float = 200.0  # per issuer, API submissions only
    rate_burst: int = 400
    # API submissions pay one more PoW bit per doubling of the rate above these (see ``spam``):
    # in all, and from one sender address (whatever keys it uses); 0 switches the part off
    pow_free_rate: float = 2000.0
    pow_free_rate_per_sender: float = 200.0
    pow_max_extra: int = 8
    pow_tau_s: float = 5.0
    # signature checks of a batch of at least VERIFY_PARALLEL_MIN are shared between this
    # thread and this many worker processes (0: all in this thread)
    verify_workers: int = 0
    future_ms: int = 30_000
    past_ms: int = 600_000
    peers: list[str] = field(default_factory=list)
    self_url: str | None = None
    sync_interval: float = 0.3
    http_timeout: float = 3.0
    # SQLite only. False: WAL with synchronous=NORMAL, atomic and durable across a process
    # crash (SIGKILL), but the last commits can be lost on power loss. True: synchronous=FULL,
    # an fsync per commit, so an acknowledged transaction survives power loss too.
    durable: bool = False
    # Shared by the nodes of one network: gossip and add-peer requests must carry it. Without
    # one, only peers on this host (loopback) may push or register. Never printed (repr=False).
    peer_secret: str | None = field(default=None, repr=False)
    # Per-peer identities (replace the shared secret): this node's Ed25519 key (hex 32-byte
    # seed; without one a key is made for this run) signs its peer requests, and with a
    # peer_allow list (hex public keys) only those keys may gossip or add peers. With both
    # peer_allow and peer_secret, the secret still admits peers that do not sign yet (migration).
    peer_key_seed: str | None = field(default=None, repr=False)
    peer_allow: list[str] | None = None
    max_peers: int = 32
    # a peer that keeps failing (unreachable, errors, garbage answers) is retried after
    # peer_backoff_s, doubling up to peer_backoff_max_s, and dropped after peer_max_failures in a row
    peer_backoff_s: float = 1.0
    peer_backoff_max_s: float = 60.0
    peer_max_failures: int = 20
    # transactions from peers whose parents are missing wait at most unsolid_ttl_s, at most
    # max_unsolid of them in all, and each peer may add peer_unsolid_per_s (burst peer_unsolid_burst)
    max_unsolid: int = 20_000
    unsolid_ttl_s: float = 600.0
    peer_unsolid_per_s: float = 500.0
    peer_unsolid_burst: int = 5000
    # every new milestone must carry a ledger root (see ``ledger``). False only while a network
    # upgrades from the pre-commitment format: milestones without one are then accepted and
    # chained by their id alone (unchecked), as pre-commitment milestones in the database are.
    require_commitments: bool = True
    # Pruning: confirmed history more than prune_depth milestones below the latest, and older
    # than prune_min_age_s, is forgotten (database and memory) except stream messages younger
    # than stream_retention_s (what buyers of unexpired spans still read) and data messages
    # younger than data_retention_s (offers, sale answers), which stay in the database only.
    # Transactions older than the pruning horizon are refused from then on (no replays).
    # 0 never prunes (the default: who scans by cursor, e.g. a seller watching for payments,
    # must keep up within the window once it is on).
    prune_depth: int = 0
    prune_min_age_s: float = 900.0
    stream_retention_s: float = 7 * 86400.0
    data_retention_s: float = 30 * 86400.0
    # a fresh node (empty database) starts from this peer's snapshot plus its recent cone
    bootstrap_from: str | None = None

    def coordinator_public(self) -> bytes:
        if self.coordinator_pubkey:
            return bytes.fromhex(self.coordinator_pubkey)
        if self.coordinator_seed:
            return txm.public_bytes(txm.key_from_seed(bytes.fromhex(self.coordinator_seed)))
        if self.dev:
            return txm.public_bytes(dev_key(self.network, "coordinator"))
        raise ConfigError("tangle: a non-dev network needs coordinator_pubkey")

    def coordinator_key(self):
        if self.coordinator_seed:
            return txm.key_from_seed(bytes.fromhex(self.coordinator_seed))
        if self.dev:
            return dev_key(self.network, "coordinator")
        raise ConfigError("tangle: running the coordinator on a non-dev network needs coordinator_seed")

    def peer_key(self) -> Ed25519PrivateKey:
        if not self.peer_key_seed:
            return Ed25519PrivateKey.generate()
        try:
            seed = bytes.fromhex(self.peer_key_seed)
            if len(seed) != 32:
                raise ValueError
        except ValueError:
            raise ConfigError("tangle: peer_key_seed must be 64 hex characters (32 bytes)") from None
        return Ed25519PrivateKey.from_private_bytes(seed)

    def peer_verifier(self) -> peerauth.PeerVerifier | None:
        if self.peer_allow is None:
            return None
        try:
            return peerauth.PeerVerifier(peerauth.parse_allow_list(self.peer_allow))
        except ValueError as exc:
            raise ConfigError(f"tangle: {exc}") from None

    def genesis_alloc(self) -> dict[str, int]:
        if self.genesis is not None:
            return dict(self.genesis)
        if self.dev:
            return {txm.address_of(txm.public_bytes(dev_key(self.network, "faucet"))): DEV_SUPPLY}
        return {}


def _peer_url(url) -> str:
    try:
        return check_base_url(url, "peer url")
    except BorderError as exc:
        raise TangleRejected(exc.reason, 400) from None


def _uncommitted_root(prev: bytes, index: int, ms_id_hex: str) -> bytes:
    """The chain link of a milestone without a ledger root (pre-commitment format): its id alone."""
    return next_root(prev, index, [b"uncommitted" + bytes.fromhex(ms_id_hex)])


def _is_addr(s) -> bool:
    return isinstance(s, str) and len(s) == 64 and all(c in "0123456789abcdef" for c in s)


class Node:
    def __init__(self, config: NodeConfig):
        self.config = config
        self.coordinator = config.coordinator_public()
        self.engine = store.make_engine(config.db_url, durable=config.durable)
        self.lock = threading.RLock()
        self.graph = Graph()
        self.tipsel = TipSelector(self.graph, config.alpha, config.lazy_age_ms)
        self.accounts: dict[str, Account] = {}
        self.confirmed: dict[bytes, int] = {}  # tx id -> milestone index
        self.unconfirmed: dict[bytes, Tx] = {}
        self.milestones: dict[int, bytes] = {}  # applied index -> milestone tx id
        self.ledger_root = b""  # the latest applied milestone's ledger root (genesis root at first)
        # set when a milestone's ledger root is not what this node computes: it stops confirming
        self.divergence: dict | None = None
        # coordinator: tips whose milestone effects raised (tx id -> reason); never chosen again
        self.set_aside: dict[bytes, str] = {}
        self.pending_ms: dict[int, bytes] = {}  # validated, not yet applied
        self.pending_seq: dict[str, tuple[int, bytes]] = {}  # sender -> (highest pending seq, its tx)
        # per issuer key, API submissions only (keys are free: ``spam`` prices floods of them in PoW)
        self.issuer_limiter = (RateLimiter(config.rate_per_s, config.rate_burst, max_keys=100_000)
                               if config.rate_per_s > 0 else None)
        self.pow = AdaptivePow(config.difficulty, config.pow_free_rate, config.pow_free_rate_per_sender,
                               config.pow_max_extra, config.pow_tau_s)
        self.peer_key = config.peer_key()
        self.peer_id = txm.public_bytes(self.peer_key).hex()
        self.peer_verifier = config.peer_verifier()
        self._verify_pool: ProcessPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        # the nonce is outside the signature, so anyone can re-mine a copy under a new id:
        # refuse a second transaction with the same signed essence
        self.essences: set[bytes] = set()
        self.peers: dict[str, int] = {}
        self._peer_fail: dict[str, tuple[int, float]] = {}  # url -> (failures in a row, retry after)
        self.unsolid: dict[bytes, float] = {}  # stored, parents not all present -> since (monotonic)
        self.peer_unsolid_limiter = (RateLimiter(config.peer_unsolid_per_s, config.peer_unsolid_burst)
                                     if config.peer_unsolid_per_s > 0 else None)
        self.count = 0
        # pruning: milestones up to pruned_index are forgotten; transactions older than
        # horizon_ts are refused; per applied milestone, what it confirmed (id, essence)
        self.pruned_index = 0
        self.pruned_root = b""
        self.horizon_ts = 0
        self.by_milestone: dict[int, list[tuple[bytes, bytes]]] = {}
        self._late: list[tuple[bytes, bytes]] = []  # confirmed at or below pruned_index, too young to prune
        self.entry_points: set[bytes] = set()
        self._ms_order: list[int] = []  # applied milestone indexes above pruned_index, ascending
        self._ms_ts: list[int] = []  # and their timestamps
        self.stats = {"ingested": 0, "rejected": 0, "from_peers": 0, "unsolid_expired": 0, "peers_dropped": 0,
                      "pruned": 0}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._outbox: queue.Queue = queue.Queue()
        self._faucet_lock = threading.Lock()
        self._load()

    # ------------------------------------------------------------------ start-up

    def _load(self) -> None:
        if 0 < self.config.prune_depth <= self.config.walk_depth + 1:
            raise ConfigError(f"tangle: prune_depth must be 0 (never prune) or above walk_depth + 1 "
                              f"({self.config.walk_depth + 1})")
        alloc = self.config.genesis_alloc()
        for a, v in alloc.items():
            if not _is_addr(a) or not isinstance(v, int) or v < 0:
                raise ConfigError(f"tangle genesis: bad entry {a!r}: {v!r}")
        if sum(alloc.values()) > UINT63[1]:
            raise ConfigError("tangle genesis: the total supply must fit a signed 64-bit balance")
        ghash = hashlib.blake2b(json.dumps([self.config.network, sorted(alloc.items())]).encode(),
                                digest_size=16).hexdigest()
        if self.config.bootstrap_from:
            self._bootstrap(self.config.bootstrap_from, ghash)
        with self.engine.begin() as c:
            row = c.execute(sa.select(store.META.c.value).where(store.META.c.key == "genesis")).first()
            if row is None:
                c.execute(store.META.insert(), [{"key": "genesis", "value": ghash}])
                if alloc:
                    c.execute(store.ACCOUNT.insert(),
                              [{"address": a, "balance": v, "next_seq": 0} for a, v in alloc.items()])
            elif row[0] != ghash:
                raise ConfigError("tangle: the database was made with another network/genesis")
        with self.engine.connect() as c:
            for a, b, s in c.execute(sa.select(store.ACCOUNT.c.address, store.ACCOUNT.c.balance,
                                               store.ACCOUNT.c.next_seq)):
                self.accounts[a] = Account(b, s)
            self.ledger_root = genesis_root(self.config.network, alloc)
            pruned = c.execute(sa.select(store.META.c.value).where(store.META.c.key == "pruned")).first()
            if pruned:
                p = json.loads(pruned[0])
                self.pruned_index, self.horizon_ts = p["index"], p["horizon_ts"]
                self.ledger_root = self.pruned_root = bytes.fromhex(p["ledger_root"])
            for i, t, ts, root in c.execute(sa.select(store.MILESTONE.c.index, store.MILESTONE.c.tx_id,
                                                      store.MILESTONE.c.timestamp, store.MILESTONE.c.ledger_root)
                                            .where(store.MILESTONE.c.index >= self.pruned_index)
                                            .order_by(store.MILESTONE.c.index)):
                self.milestones[i] = bytes.fromhex(t)
                if i > self.pruned_index:
                    self._ms_order.append(i)
                    self._ms_ts.append(ts)
                    self.ledger_root = bytes.fromhex(root) if root else _uncommitted_root(self.ledger_root, i, t)
            for i, ms, ts in c.execute(sa.select(store.ENTRY.c.id, store.ENTRY.c.milestone, store.ENTRY.c.timestamp)):
                ep = bytes.fromhex(i)
                self.graph.add_entry_point(ep, ts)
                self.confirmed[ep] = ms
                self.entry_points.add(ep)
            self.count = c.execute(sa.select(sa.func.count()).select_from(store.TX)).scalar()
            bad_peers = []
            for url, cur in c.execute(sa.select(store.PEER.c.url, store.PEER.c.cursor)):
                try:
                    self.peers[_peer_url(url)] = cur
                except TangleRejected:
                    bad_peers.append(url)  # stored by an older version that checked only the prefix
            # only the live window: what pruning kept for buyers is in the database, not in memory
            rows = c.execute(sa.select(store.TX.c.raw, store.TX.c.milestone).where(self._live_rows())
                             .order_by(store.TX.c.arrival))
            for raw, ms in rows:
                t = txm.decode(raw)
                eh = t.essence_hash()
                self.essences.add(eh)
                self.graph.add(t.id, t.parents, t.timestamp)
                if ms is not None:
                    self.confirmed[t.id] = ms
                    (self._late if ms <= self.pruned_index else self.by_milestone.setdefault(ms, [])).append((t.id, eh))
                else:
                    self._track_unconfirmed(t)
        if bad_peers:
            log.warning("tangle: dropping %d stored peer URLs that are not http(s)://host[:port]", len(bad_peers))
            with self.engine.begin() as c:
                c.execute(store.PEER.delete().where(store.PEER.c.url.in_(bad_peers)))
        mono = time.monotonic()
        self.unsolid = {i: mono for i in self.graph.parents if i not in self.graph.solid}
        for url in self.config.peers:
            self.add_peer(url)
        self._apply_milestones()

    def _live_rows(self):
        """Stored transactions that belong in memory: unconfirmed, above the pruning point, or too young."""
        return sa.or_(store.TX.c.milestone.is_(None), store.TX.c.milestone > self.pruned_index,
                      store.TX.c.timestamp >= self.horizon_ts)

    def _track_unconfirmed(self, t: Tx) -> None:
        self.unconfirmed[t.id] = t
        if t.kind == VALUE:
            cur = self.pending_seq.get(t.sender)
            if cur is None or t.sequence > cur[0]:
                self.pending_seq[t.sender] = (t.sequence, t.id)
        elif t.kind == MILESTONE and t.index > self.latest_milestone:
            self.pending_ms.setdefault(t.index, t.id)

    # ------------------------------------------------------------------ queries

    @property
    def latest_milestone(self) -> int:
        return max(self.milestones, default=0)

    def balance(self, address: str) -> int:
        a = self.accounts.get(address)
        return a.balance if a else 0

    def account_info(self, address: str) -> dict:
        a = self.accounts.get(address) or Account()
        pend = self.pending_seq.get(address)
        nxt = a.next_seq
        last = None
        if pend and pend[0] >= a.next_seq and pend[1] in self.unconfirmed:
            nxt, last = pend[0] + 1, pend[1].hex()
        return {"address": address, "balance": a.balance, "next_sequence": nxt,
                "confirmed_sequence": a.next_seq, "last_pending": last}

    def supply(self) -> int:
        return sum(a.balance for a in self.accounts.values())

    def info(self, sender: str | None = None) -> dict:
        """``pow_difficulty`` is what an API submission from ``sender`` (its address) needs now."""
        return {"network": self.config.network, "pow_difficulty": self.pow.required(sender, time.monotonic()),
                "pow_base_difficulty": self.config.difficulty, "peer_key": self.peer_id,
                "coordinator": self.coordinator.hex(), "tx_count": self.count,
                "latest_milestone": self.latest_milestone, "dev": self.config.dev,
                "ledger_root": self.ledger_root.hex(), **self.status(),
                "pruned_index": self.pruned_index, "horizon_ts": self.horizon_ts,
                "live_txs": len(self.graph.parents) - 1,
                "solid_count": len(self.graph.solid) - 1, "peers": sorted(self.peers),
                "tips": len(self.graph.tipset), "stats": dict(self.stats)}

    def status(self) -> dict:
        """``ok``, or ``diverged`` with where: this node computed another ledger than the coordinator."""
        if self.divergence:
            return {"status": "diverged", "divergence": dict(self.divergence)}
        return {"status": "ok", "divergence": None}

    def entry_point(self) -> bytes:
        idx = self.latest_milestone - self.config.walk_depth
        return self.milestones.get(idx, GENESIS_ID) if idx > 0 else GENESIS_ID

    def select_tips(self, n: int = 2) -> list[str]:
        return [t.hex() for t in self.tipsel.select(self.entry_point(), n)]

    def tx_json(self, row) -> dict:
        t = txm.decode(row.raw)
        return {"id": t.hex_id, "issuer": t.issuer.hex(), "sender": t.sender, "kind": t.kind_name,
                "payload": t.payload_json(), "parents": [p.hex() for p in t.parents], "timestamp": t.timestamp,
                "confirmed": row.milestone is not None and not row.conflicting, "milestone": row.milestone,
                "conflicting": bool(row.conflicting), "cursor": row.arrival}

    def get(self, tx_id: str) -> dict | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(store.TX).where(store.TX.c.id == tx_id)).first()
        return self.tx_json(row) if row else None

    def get_raw(self, tx_id: str) -> bytes | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(store.TX.c.raw).where(store.TX.c.id == tx_id)).first()
        return row[0] if row else None

    def find(self, tag=None, address=None, since=0, limit=500, kind=None) -> tuple[list[dict], int]:
        q = sa.select(store.TX).where(store.TX.c.arrival > since)
        if tag is not None:
            q = q.where(store.TX.c.tag == tag)
        if address is not None:
            q = q.where(sa.or_(store.TX.c.sender == address, store.TX.c.recipient == address))
        if kind is not None:
            q = q.where(store.TX.c.kind == kind)
        q = q.order_by(store.TX.c.arrival).limit(limit)
        with self.engine.connect() as c:
            rows = c.execute(q).all()
        items = [self.tx_json(r) for r in rows]
        return items, (rows[-1].arrival if rows else since)

    def sync_since(self, since: int, limit: int = 500) -> tuple[list[bytes], int]:
        q = (sa.select(store.TX.c.arrival, store.TX.c.raw).where(store.TX.c.arrival > since)
             .order_by(store.TX.c.arrival).limit(limit))
        with self.engine.connect() as c:
            rows = c.execute(q).all()
        return [r.raw for r in rows], (rows[-1].arrival if rows else since)

    def milestone_list(self, since: int = 0) -> list[dict]:
        q = sa.select(store.MILESTONE).where(store.MILESTONE.c.index > since).order_by(store.MILESTONE.c.index)
        with self.engine.connect() as c:
            return [{"index": r.index, "id": r.tx_id, "timestamp": r.timestamp,
                     "confirmed_count": r.confirmed_count, "ledger_root": r.ledger_root}
                    for r in c.execute(q.limit(1000))]

    # ------------------------------------------------------------------ ingest

    def _check(self, t: Tx, source: str, now: int, batch: set, api_pow: int = 0, sig_ok: bool | None = None) -> Tx:
        cfg = self.config
        if t.network != cfg.network:
            raise TangleRejected(f"wrong network {t.network} (this node: {cfg.network})", 400)
        if t.id in self.graph or t.id in batch:
            raise TangleRejected("duplicate transaction (replay)", 409)
        eh = t.essence_hash()
        if eh in self.essences or eh in batch:
            raise TangleRejected("duplicate transaction content (re-mined replay)", 409)
        if not txm.pow_ok(t.id, cfg.difficulty):
            raise TangleRejected(f"insufficient proof of work (need {cfg.difficulty} leading zero bits)", 400)
        if not (t.verify_signature() if sig_ok is None else sig_ok):
            raise TangleRejected("bad signature", 400)
        if t.timestamp > now + cfg.future_ms:
            raise TangleRejected("timestamp too far in the future", 400)
        if t.timestamp < self.horizon_ts:
            raise TangleRejected("timestamp older than this node's pruning horizon", 400)
        if t.kind == VALUE and t.sequence > UINT63[1]:  # never reachable, and beyond the BigInteger column
            raise TangleRejected(f"sequence {t.sequence} beyond {UINT63[1]}", 400)
        if t.kind == MILESTONE:
            if t.issuer != self.coordinator:
                raise TangleRejected("milestone not signed by the coordinator", 403)
            known = self.milestones.get(t.index) or self.pending_ms.get(t.index)
            if t.index <= 0 or (known is not None and known != t.id):
                raise TangleRejected(f"milestone index {t.index} already taken", 409)
            if t.ledger_root is None and cfg.require_commitments:
                raise TangleRejected("milestone carries no ledger root (pre-commitment format)", 400)
        if source == "api":
            if api_pow > cfg.difficulty and not txm.pow_ok(t.id, api_pow):
                raise TangleRejected(f"insufficient proof of work (need {api_pow} leading zero bits at this "
                                     f"load; GET /v1/info says what it is now)", 400)
            if t.timestamp < now - cfg.past_ms:
                raise TangleRejected("timestamp too old", 400)
            for p in t.parents:
                if p not in self.graph and p not in batch:
                    raise TangleRejected(f"unknown parent {p.hex()}", 400)
            if t.kind == VALUE:
                acct = self.accounts.get(t.sender)
                if t.sequence < (acct.next_seq if acct else 0):
                    raise TangleRejected(f"sequence {t.sequence} already used (replay)", 409)
            if self.issuer_limiter is not None and t.issuer != self.coordinator and self.issuer_limiter.take(t.issuer):
                raise TangleRejected("rate limit exceeded for this issuer", 429)
        return t

    def ingest(self, raw: bytes, source: str = "api") -> Tx:
        """Validate and durably store one transaction; raises TangleRejected (status, reason)."""
        res = self.ingest_many([raw], source)[0]
        if isinstance(res, TangleRejected):
            raise res
        return res

    def _admit_unsolid(self, t: Tx, peer: str | None, batch: set, waiting_in_batch: int) -> None:
        """A transaction from a peer whose parents are not all here: capped in all and per peer."""
        if all(p in self.graph.solid or p in batch for p in t.parents):
            return
        cfg = self.config
        if len(self.unsolid) + waiting_in_batch >= cfg.max_unsolid:
            raise TangleRejected(f"{cfg.max_unsolid} transactions already wait for their parents", 429)
        if peer is not None and self.peer_unsolid_limiter is not None and self.peer_unsolid_limiter.take(peer):
            raise TangleRejected("this peer sends too many transactions with unknown parents", 429)

    def ingest_many(self, raws: list[bytes], source: str = "api", peer: str | None = None,
                    sender: str | None = None) -> list:
        """Validate and store a batch in one SQL transaction; per item a Tx or a TangleRejected.

        Each transaction is stored whole or not at all; all are acknowledged only after commit.
        ``peer`` names the sending peer (its per-peer limit on transactions with unknown parents);
        ``sender`` the API client's address (the proof of work it owes depends on its rate).
        """
        now = txm.now_ms()
        out: list = []
        good: list[Tx] = []
        api_pow = self.pow.required(sender, time.monotonic()) if source == "api" else 0
        decoded = []
        for raw in raws:
            try:
                decoded.append(txm.decode(raw))
            except TangleRejected as exc:
                decoded.append(exc)
        sig_ok = self._verify_batch(decoded)  # outside the lock: other requests go on meanwhile
        with self.lock:
            seen: set[bytes] = set()
            waiting = 0
            for t in decoded:
                try:
                    if isinstance(t, TangleRejected):
                        raise t
                    t = self._check(t, source, now, seen, api_pow, sig_ok.get(t.id))
                    if source == "peer":
                        self._admit_unsolid(t, peer, seen, waiting)
                        if not all(p in self.graph.solid or p in seen for p in t.parents):
                            waiting += 1
                except TangleRejected as exc:
                    self.stats["rejected"] += 1
                    out.append(exc)
                    continue
                seen.add(t.id)
                seen.add(t.essence_hash())
                good.append(t)
                out.append(t)
            if not good:
                return out
            rows = [{"id": t.hex_id, "raw": t.raw, "kind": t.kind, "timestamp": t.timestamp,
                     "sender": t.sender, "recipient": t.to.hex() if t.to else None, "tag": t.search_tag(),
                     "sequence": t.sequence if t.kind == VALUE else None, "milestone": None,
                     "conflicting": False} for t in good]
            with self.engine.begin() as c:
                c.execute(store.TX.insert(), rows)
            mono = time.monotonic()
            for t in good:
                self.count += 1
                self.essences.add(t.essence_hash())
                self._track_unconfirmed(t)
                newly = self.graph.add(t.id, t.parents, t.timestamp)
                if t.id not in self.graph.solid:
                    self.unsolid[t.id] = mono
                for i in newly:
                    self.unsolid.pop(i, None)
            self.stats["ingested"] += len(good)
            if source == "api":
                self.pow.record(sender, time.monotonic(), len(good))
            if source == "peer":
                self.stats["from_peers"] += len(good)
            if any(t.kind == MILESTONE for t in good) or self.pending_ms:
                self._apply_milestones()
        if self.peers:
            self._outbox.put([t.raw for t in good])
        return out

    def _verify_batch(self, decoded: list) -> dict[bytes, bool]:
        """Signature checks of a big batch across processes; {} when done one by one in ``_check``.
        Only what passes the cheap checks (network, proof of work, not known) is verified."""
        cfg = self.config
        if cfg.verify_workers <= 0 or len(decoded) < VERIFY_PARALLEL_MIN:
            return {}
        todo = [t for t in decoded if isinstance(t, Tx) and t.network == cfg.network
                and txm.pow_ok(t.id, cfg.difficulty) and t.id not in self.graph]
        if len(todo) < VERIFY_PARALLEL_MIN:
            return {}
        if self._verify_pool is None:
            with self._pool_lock:
                if self._verify_pool is None:  # spawn: no forked copy of this threaded process
                    self._verify_pool = ProcessPoolExecutor(cfg.verify_workers,
                                                            mp_context=multiprocessing.get_context("spawn"))
        parts = cfg.verify_workers + 1
        step = -(-len(todo) // parts)
        chunks = [todo[i:i + step] for i in range(0, len(todo), step)]
        futures = [self._verify_pool.submit(txm.verify_many, [(t.issuer, t.signature, t.raw[:t.essence_len])
                                                              for t in chunk]) for chunk in chunks[1:]]
        results = [t.verify_signature() for t in chunks[0]]
        for f in futures:
            results += f.result()
        return {t.id: ok for t, ok in zip((t for chunk in chunks for t in chunk), results, strict=True)}

    # ------------------------------------------------------------------ milestones

    def _apply_milestones(self) -> None:
        with self.lock:
            while not self.divergence:
                idx = self.latest_milestone + 1
                ms_id = self.pending_ms.get(idx)
                if ms_id is None or ms_id not in self.graph.solid:
                    return
                self._apply_one(idx, ms_id)

    def _cone_effects(self, root: bytes, root_parents: tuple[bytes, ...] | None = None):
        """The cone ``root`` would confirm, in white-flag order, and what applying it does."""
        order = cone_order(root, self.graph.parents.__getitem__, self.confirmed.__contains__, root_parents)
        txs = [self.unconfirmed[i] for i in order if i in self.unconfirmed]
        return txs, apply_cone(txs, lambda a: self.accounts.get(a) or Account())

    def _apply_one(self, idx: int, ms_id: bytes) -> None:
        txs, res = self._cone_effects(ms_id)
        ms = self.unconfirmed[ms_id]
        if ms.ledger_root is None:
            root = _uncommitted_root(self.ledger_root, idx, ms_id.hex())
        else:
            root = next_root(self.ledger_root, idx, mutation_leaves(txs, res))
            if root != ms.ledger_root:
                self.divergence = {"milestone": idx, "milestone_id": ms_id.hex(),
                                   "milestone_ledger_root": ms.ledger_root.hex(), "computed_ledger_root": root.hex(),
                                   "last_agreed_milestone": self.latest_milestone}
                log.error("tangle: LEDGER DIVERGED at milestone %d: it commits to ledger root %s, this node "
                          "computes %s; this node stops confirming (last agreed milestone %d)", idx,
                          ms.ledger_root.hex(), root.hex(), self.latest_milestone)
                return
        conflicting = set(res.conflicting)
        with self.engine.begin() as c:
            ids = [i.hex() for i in res.confirmed]
            for k in range(0, len(ids), 500):
                c.execute(store.TX.update().where(store.TX.c.id.in_(ids[k:k + 500])).values(milestone=idx))
            if conflicting:
                c.execute(store.TX.update().where(store.TX.c.id.in_([i.hex() for i in conflicting]))
                          .values(conflicting=True))
            for addr, a in res.touched.items():
                r = c.execute(store.ACCOUNT.update().where(store.ACCOUNT.c.address == addr)
                              .values(balance=a.balance, next_seq=a.next_seq))
                if r.rowcount == 0:
                    c.execute(store.ACCOUNT.insert(), [{"address": addr, "balance": a.balance,
                                                        "next_seq": a.next_seq}])
            c.execute(store.MILESTONE.insert(), [{"index": idx, "tx_id": ms_id.hex(), "timestamp": ms.timestamp,
                                                  "confirmed_count": len(ids), "ledger_root": root.hex()}])
        # in-memory state follows the commit
        self.accounts.update(res.touched)
        senders = set()
        done = self.by_milestone.setdefault(idx, [])
        for i in res.confirmed:
            self.confirmed[i] = idx
            t = self.unconfirmed.pop(i)
            done.append((i, t.essence_hash()))
            if t.kind == VALUE:
                senders.add(t.sender)
        self.milestones[idx] = ms_id
        self._ms_order.append(idx)
        self._ms_ts.append(ms.timestamp)
        self.ledger_root = root
        self.pending_ms.pop(idx, None)
        if senders:
            self._recompute_pending(senders)
        self._maybe_prune()

    # ------------------------------------------------------------------ pruning and snapshots

    def _maybe_prune(self) -> None:
        depth = self.config.prune_depth
        if depth <= 0 or self.latest_milestone - self.pruned_index < depth + max(1, depth // 10):
            return
        old_enough = bisect.bisect_right(self._ms_ts, txm.now_ms() - int(self.config.prune_min_age_s * 1000))
        if old_enough == 0:
            return
        upto = min(self.latest_milestone - depth, self._ms_order[old_enough - 1])
        if upto > self.pruned_index:
            self.prune(upto)

    def prune(self, upto: int) -> int:
        """Forget confirmed history up to milestone ``upto`` (kept, in the database only: stream
        and data messages within their retention); returns how many transactions left memory."""
        with self.lock:
            if not self.pruned_index < upto <= self.latest_milestone - max(2, self.config.walk_depth + 1):
                raise TangleRejected(f"can prune only up to {self.latest_milestone} minus the walk depth", 409)
            pos = self._ms_order.index(upto)
            # what is pruned is older than the horizon, and what is older is refused from now on,
            # so a pruned transaction cannot come back; anything younger is still stored
            horizon = self._ms_ts[pos]
            cands = self._late
            for idx in self._ms_order[:pos + 1]:
                cands += self.by_milestone.pop(idx, [])
            gone = [(i, eh) for i, eh in cands if self.graph.ts.get(i, 0) < horizon]
            self._late = [(i, eh) for i, eh in cands if self.graph.ts.get(i, 0) >= horizon]
            drop = {i for i, _ in gone} | self.entry_points
            entry = self.graph.prune(drop)
            now = txm.now_ms()
            kept = {txm.STREAM: now - int(self.config.stream_retention_s * 1000),
                    txm.DATA: now - int(self.config.data_retention_s * 1000)}
            retained = sa.or_(*(sa.and_(store.TX.c.kind == k, store.TX.c.timestamp >= since)
                                for k, since in kept.items()))
            ids = [i.hex() for i, _ in gone]
            with self.engine.begin() as c:
                for k in range(0, len(ids), 500):
                    c.execute(store.TX.delete().where(store.TX.c.id.in_(ids[k:k + 500])).where(sa.not_(retained)))
                for kind, since in kept.items():  # messages kept earlier whose retention is over
                    c.execute(store.TX.delete().where(store.TX.c.milestone <= upto, store.TX.c.kind == kind,
                                                      store.TX.c.timestamp < min(since, horizon)))
                c.execute(store.ENTRY.delete())
                if entry:
                    c.execute(store.ENTRY.insert(), [{"id": i.hex(), "milestone": self.confirmed[i],
                                                      "timestamp": self.graph.ts[i]} for i in entry])
                c.execute(store.MILESTONE.delete().where(store.MILESTONE.c.index < upto))
                c.execute(store.META.delete().where(store.META.c.key == "pruned"))
                root = c.execute(sa.select(store.MILESTONE.c.ledger_root)
                                 .where(store.MILESTONE.c.index == upto)).scalar()
                c.execute(store.META.insert(), [{"key": "pruned", "value": json.dumps(
                    {"index": upto, "ledger_root": root, "horizon_ts": horizon})}])
                self.count = c.execute(sa.select(sa.func.count()).select_from(store.TX)).scalar()
            for _i, eh in gone:
                self.essences.discard(eh)
            for i in drop - entry:
                self.confirmed.pop(i, None)
            self.entry_points = entry
            for idx in self._ms_order[:pos]:
                self.milestones.pop(idx, None)
            del self._ms_order[:pos + 1]
            del self._ms_ts[:pos + 1]
            self.pruned_index, self.pruned_root, self.horizon_ts = upto, bytes.fromhex(root), horizon
            self.stats["pruned"] += len(gone)
            log.info("tangle: pruned %d transactions up to milestone %d (%d entry points)", len(gone), upto, len(entry))
            return len(gone)

    def snapshot(self) -> dict:
        """The ledger at the latest milestone plus the live window: what a fresh node starts from."""
        with self.lock, self.engine.connect() as c:
            rows = c.execute(sa.select(store.TX.c.raw, store.TX.c.milestone, store.TX.c.conflicting)
                             .where(self._live_rows()).order_by(store.TX.c.arrival)).all()
            milestones = c.execute(sa.select(store.MILESTONE).where(store.MILESTONE.c.index >= self.pruned_index)
                                   .order_by(store.MILESTONE.c.index)).all()
            cursor = c.execute(sa.select(sa.func.max(store.TX.c.arrival))).scalar() or 0
            genesis = c.execute(sa.select(store.META.c.value).where(store.META.c.key == "genesis")).scalar()
            return {"network": self.config.network, "genesis": genesis, "index": self.latest_milestone,
                    "ledger_root": self.ledger_root.hex(), "cursor": cursor,
                    "pruned": {"index": self.pruned_index, "ledger_root": self.pruned_root.hex(),
                               "horizon_ts": self.horizon_ts},
                    "accounts": [[a, x.balance, x.next_seq] for a, x in sorted(self.accounts.items())],
                    "milestones": [[m.index, m.tx_id, m.timestamp, m.confirmed_count, m.ledger_root]
                                   for m in milestones],
                    "entry_points": [[i.hex(), self.confirmed[i], self.graph.ts[i]] for i in sorted(self.entry_points)],
                    "txs": [[r.raw.hex(), r.milestone, bool(r.conflicting)] for r in rows]}

    def _bootstrap(self, url: str, ghash: str) -> None:
        """Fill an empty database from a peer's snapshot; checks what it can: network, genesis,
        the coordinator's signature on the latest milestone and its ledger root, every
        transaction's signature and proof of work. The balances themselves are the peer's word:
        a forged one shows as a divergence once a milestone touches that account."""
        with self.engine.connect() as c:
            if c.execute(sa.select(store.META.c.value).where(store.META.c.key == "genesis")).first():
                return  # not fresh: a restart goes on from its own database
        url = _peer_url(url)
        try:
            snap = self._http("GET", url + "/v1/snapshot", limit=MAX_SNAPSHOT)
            rows = self._check_snapshot(snap, ghash)
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure: the node cannot start from it
            raise ConfigError(f"tangle: cannot bootstrap from {url}: {type(exc).__name__}: {exc}") from None
        with self.engine.begin() as c:
            c.execute(store.META.insert(), [{"key": "genesis", "value": ghash}, {"key": "pruned", "value": json.dumps(
                snap["pruned"])}])
            if snap["accounts"]:
                c.execute(store.ACCOUNT.insert(), [{"address": a, "balance": b, "next_seq": q}
                                                   for a, b, q in snap["accounts"]])
            c.execute(store.MILESTONE.insert(), [{"index": i, "tx_id": t, "timestamp": ts, "confirmed_count": n,
                                                  "ledger_root": r} for i, t, ts, n, r in snap["milestones"]])
            if snap["entry_points"]:
                c.execute(store.ENTRY.insert(), [{"id": i, "milestone": m, "timestamp": ts}
                                                 for i, m, ts in snap["entry_points"]])
            for k in range(0, len(rows), 1000):
                c.execute(store.TX.insert(), rows[k:k + 1000])
            c.execute(store.PEER.insert(), [{"url": url, "cursor": snap["cursor"]}])
        log.info("tangle: bootstrapped from %s at milestone %d (%d transactions, %d accounts)", url,
                 snap["index"], len(rows), len(snap["accounts"]))

    def _check_snapshot(self, snap: dict, ghash: str) -> list[dict]:
        if snap.get("network") != self.config.network or snap.get("genesis") != ghash:
            raise ConfigError("tangle: the snapshot is of another network or genesis")
        by_index = {m[0]: m for m in snap["milestones"]}
        latest = by_index.get(snap["index"]) if snap["index"] else None
        if snap["index"] and (latest is None or latest[4] != snap["ledger_root"]):
            raise ValueError("the snapshot's milestone list does not hold its latest milestone and root")
        rows, seen_latest = [], not snap["index"]
        for raw_hex, ms, conflicting in snap["txs"]:
            t = txm.decode(bytes.fromhex(raw_hex))
            if (t.network != self.config.network or not txm.pow_ok(t.id, self.config.difficulty)
                    or not t.verify_signature()):
                raise ValueError(f"snapshot transaction {t.hex_id} fails its checks")
            if t.kind == MILESTONE:
                if t.issuer != self.coordinator:
                    raise ValueError("a snapshot milestone is not signed by the coordinator")
                m = by_index.get(t.index)
                if m is not None and (m[1] != t.hex_id or (t.ledger_root and m[4] != t.ledger_root.hex())):
                    raise ValueError(f"snapshot milestone {t.index} does not match its list entry")
                seen_latest |= t.index == snap["index"] and m is not None
            rows.append({"id": t.hex_id, "raw": t.raw, "kind": t.kind, "timestamp": t.timestamp, "sender": t.sender,
                         "recipient": t.to.hex() if t.to else None, "tag": t.search_tag(),
                         "sequence": t.sequence if t.kind == VALUE else None, "milestone": ms,
                         "conflicting": bool(conflicting)})
        if not seen_latest:
            raise ValueError("the snapshot lacks its latest milestone (signed by the coordinator)")
        return rows

    def _recompute_pending(self, senders: set[str]) -> None:
        """Sequence hints for wallets: the highest still-usable pending transfer of each sender
        (a spend whose sequence is already used, or that ended conflicting, is no hint)."""
        best: dict[str, tuple[int, bytes]] = {}
        for t in self.unconfirmed.values():
            if t.kind == VALUE and t.sender in senders:
                a = self.accounts.get(t.sender)
                if t.sequence >= (a.next_seq if a else 0) and t.sequence >= best.get(t.sender, (-1, b""))[0]:
                    best[t.sender] = (t.sequence, t.id)
        for sndr in senders:
            if sndr in best:
                self.pending_seq[sndr] = best[sndr]
            else:
                self.pending_seq.pop(sndr, None)

    def _milestone_cone(self, last: bytes, tips: list[bytes]):
        parents = sorted({last, *tips})
        if len(parents) < 2:
            parents = parents * 2
        return (parents, *self._cone_effects(_NEW_MILESTONE, tuple(parents)))

    def _cone_ok(self, last: bytes, tip: bytes) -> bool:
        """Whether a milestone over ``tip`` alone can be worked out; if not, the tip is set aside
        (logged, kept in ``set_aside`` with the reason, never chosen again) so the coordinator
        goes on confirming the others. Its approvers cannot be confirmed either (their cone
        holds it) and are set aside in turn when they come up as tips."""
        try:
            self._milestone_cone(last, [tip])
            return True
        except Exception as exc:  # noqa: BLE001 - this transaction's fault, whatever it is
            reason = f"{type(exc).__name__}: {exc}"[:500]
            self.set_aside[tip] = reason
            log.warning("tangle coordinator: transaction %s set aside, its effects cannot be worked out: %s",
                        tip.hex(), reason)
            return False

    def issue_milestone(self) -> str | None:
        """Coordinator: sign a milestone over the current tips when there is something new."""
        with self.lock:
            last = self.milestones.get(self.latest_milestone, GENESIS_ID)
            if self.pending_ms or self.divergence:
                return None  # wait until our previous milestone is applied
            tips = sorted((t for t in self.graph.tipset if t != last and t not in self.confirmed
                           and t not in self.set_aside), key=lambda t: (self.graph.ts[t], t))[:7]
            if not tips:
                return None
            try:
                parents, txs, res = self._milestone_cone(last, tips)
            except Exception:  # noqa: BLE001 - one tip's cone cannot be worked out: find it, confirm the rest
                tips = [t for t in tips if self._cone_ok(last, t)]
                if not tips:
                    return None
                parents, txs, res = self._milestone_cone(last, tips)
            idx = self.latest_milestone + 1
            root = next_root(self.ledger_root, idx, mutation_leaves(txs, res))
            raw = txm.build(self.config.coordinator_key(), MILESTONE, txm.milestone_payload(idx, root),
                            parents, network=self.config.network, difficulty=self.config.difficulty)
            return self.ingest(raw, source="coordinator").hex_id

    # ------------------------------------------------------------------ faucet

    def faucet(self, address: str, amount: int) -> str:
        if not self.config.dev:
            raise TangleRejected("faucet is only available on dev networks", 403)
        if not _is_addr(address):
            raise TangleRejected("address must be 64 lowercase hex characters", 400)
        if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= self.config.faucet_max:
            raise TangleRejected(f"amount must be an integer in 1..{self.config.faucet_max}", 400)
        key = dev_key(self.config.network, "faucet")
        me = txm.address_of(txm.public_bytes(key))
        with self._faucet_lock, self.lock:
            acct = self.account_info(me)
            if self.accounts.get(me, Account()).balance < amount:
                raise TangleRejected("faucet is empty", 409)
            parents = self.select_tips(2)
            if acct["last_pending"]:
                parents = sorted({*parents, acct["last_pending"]})
            if len(parents) < 2:
                parents = parents * 2
            raw = txm.build(key, VALUE, txm.value_payload(address, amount, acct["next_sequence"]),
                            parents, network=self.config.network, difficulty=self.config.difficulty)
            return self.ingest(raw, source="faucet").hex_id

    # ------------------------------------------------------------------ peers, gossip, sync

    def add_peer(self, url: str) -> None:
        url = _peer_url(url)  # only what urllib can use is stored: a bad URL never reaches gossip
        with self.lock:  # check and insert together: the same URL posted twice at once is one row
            if url == self.config.self_url or url in self.peers:
                return
            if len(self.peers) >= self.config.max_peers:
                raise TangleRejected(f"this node already has its maximum of {self.config.max_peers} peers", 409)
            with self.engine.begin() as c:
                c.execute(store.PEER.insert(), [{"url": url, "cursor": 0}])
            self.peers[url] = 0

    def remove_peer(self, url: str) -> None:
        with self.lock:
            with self.engine.begin() as c:
                c.execute(store.PEER.delete().where(store.PEER.c.url == url))
            self.peers.pop(url, None)
            self._peer_fail.pop(url, None)

    def _peer_usable(self, url: str) -> bool:
        return self._peer_fail.get(url, (0, 0.0))[1] <= time.monotonic()

    def _peer_ok(self, url: str) -> None:
        self._peer_fail.pop(url, None)

    def _peer_failed(self, url: str, what: str, exc: BaseException) -> None:
        """Back a failing peer off (doubling), and drop it after ``peer_max_failures`` in a row."""
        cfg = self.config
        n = self._peer_fail.get(url, (0, 0.0))[0] + 1
        if n >= cfg.peer_max_failures:
            log.warning("tangle: dropping peer %s after %d failures in a row (last: %s: %s)", url, n, what, exc)
            self.stats["peers_dropped"] += 1
            try:
                self.remove_peer(url)
            except Exception:  # noqa: BLE001 - the database may be what fails; retry next time
                log.exception("tangle: could not drop peer %s", url)
            return
        wait = min(cfg.peer_backoff_max_s, cfg.peer_backoff_s * 2 ** (n - 1))
        self._peer_fail[url] = (n, time.monotonic() + wait)
        log.info("%s to %s failed (%s: %s); retry in %.1fs", what, url, type(exc).__name__, exc, wait)

    def _http(self, method: str, url: str, body: dict | None = None, limit: int = MAX_PEER_ANSWER) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"}
        if method == "POST" or url.endswith("/v1/snapshot"):  # peer requests carry this node's identity
            path = urllib.parse.unquote(urllib.parse.urlsplit(url).path)
            headers.update(peerauth.sign_headers(self.peer_key, self.peer_id, method, path, data or b"",
                                                 txm.now_ms()))
        if self.config.peer_secret:
            headers[PEER_SECRET_HEADER] = self.config.peer_secret
        if self.config.self_url:
            headers[PEER_HEADER] = self.config.self_url
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        timeout = self.config.http_timeout if limit <= MAX_PEER_ANSWER else max(60.0, self.config.http_timeout)
        with urllib.request.urlopen(req, timeout=timeout) as r:
            text = r.read(limit + 1)
        if len(text) > limit:
            raise ValueError(f"answer larger than {limit} bytes")
        obj = json.loads(text)
        if not isinstance(obj, dict):
            raise ValueError("answer is not a JSON object")
        return obj

    def _gossip_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._gossip_once()
            except Exception:  # noqa: BLE001 - never let one bad batch or peer stop gossip
                log.exception("tangle: gossip pass failed")

    def _gossip_once(self) -> None:
        try:
            batch = self._outbox.get(timeout=0.2)
        except queue.Empty:
            return
        while len(batch) < 500:
            try:
                batch += self._outbox.get_nowait()
            except queue.Empty:
                break
        body = {"txs": [r.hex() for r in batch]}
        for url in list(self.peers):
            if not self._peer_usable(url):
                continue  # backed off: it catches up by sync once it answers again
            try:
                self._http("POST", url + "/v1/gossip", body)
                self._peer_ok(url)
            except Exception as exc:  # noqa: BLE001 - any failure of one peer: back it off, go on
                self._peer_failed(url, "gossip", exc)

    def _sync_peer(self, url: str) -> int:
        got = 0
        cursor = self.peers.get(url, 0)
        for _ in range(20):
            r = self._http("GET", f"{url}/v1/sync?since={cursor}&limit=500")
            txs, new_cursor = r.get("txs"), r.get("cursor", cursor)
            if not isinstance(txs, list) or not all(isinstance(h, str) for h in txs) or len(txs) > 1000:
                raise ValueError("sync answer: txs must be a list of at most 1000 hex strings")
            if not isinstance(new_cursor, int) or isinstance(new_cursor, bool) or not 0 <= new_cursor <= UINT63[1]:
                raise ValueError("sync answer: cursor must be a non-negative 64-bit integer")
            raws = [bytes.fromhex(h) for h in txs]
            if raws:
                res = self.ingest_many(raws, source="peer", peer=url)
                got += sum(1 for x in res if isinstance(x, Tx))
            if new_cursor != cursor and url in self.peers:
                with self.engine.begin() as c:
                    c.execute(store.PEER.update().where(store.PEER.c.url == url).values(cursor=new_cursor))
                cursor = self.peers[url] = new_cursor
            if len(raws) < 500:
                break
        return got

    def sync_once(self) -> int:
        """Pull what peers stored since our cursor, and fetch missing parents; returns txs stored.

        A failing peer (unreachable, an error, an answer that is not what a node sends) is backed
        off and, after ``peer_max_failures`` in a row, dropped; the other peers are still synced."""
        got = 0
        for url in list(self.peers):
            if not self._peer_usable(url):
                continue
            try:
                got += self._sync_peer(url)
                self._peer_ok(url)
            except Exception as exc:  # noqa: BLE001 - one peer never stops the pass
                self._peer_failed(url, "sync", exc)
        for missing in self.graph.missing()[:100]:
            for url in list(self.peers):
                if not self._peer_usable(url):
                    continue
                try:
                    r = self._http("GET", f"{url}/v1/transactions/{missing.hex()}/raw")
                    raw = r.get("tx")
                    if not isinstance(raw, str):
                        raise ValueError("answer has no tx")
                    res = self.ingest_many([bytes.fromhex(raw)], source="peer", peer=url)
                    got += sum(1 for x in res if isinstance(x, Tx))
                    break
                except urllib.error.HTTPError as exc:
                    if exc.code != 404:  # not having it is no failure
                        self._peer_failed(url, "fetch", exc)
                except Exception as exc:  # noqa: BLE001
                    self._peer_failed(url, "fetch", exc)
        return got

    def expire_unsolid(self, now: float | None = None) -> int:
        """Forget transactions that waited longer than ``unsolid_ttl_s`` for their parents
        (database and memory); returns how many."""
        now = time.monotonic() if now is None else now
        cutoff = now - self.config.unsolid_ttl_s
        with self.lock:
            old = [i for i, since in self.unsolid.items() if since < cutoff]
            if not old:
                return 0
            ids = [i.hex() for i in old]
            with self.engine.begin() as c:
                for k in range(0, len(ids), 500):
                    c.execute(store.TX.delete().where(store.TX.c.id.in_(ids[k:k + 500])))
            senders = set()
            for i in old:
                self.unsolid.pop(i, None)
                t = self.unconfirmed.pop(i, None)
                self.graph.remove(i)
                self.count -= 1
                if t is not None:
                    self.essences.discard(t.essence_hash())
                    if t.kind == VALUE:
                        senders.add(t.sender)
                    elif t.kind == MILESTONE and self.pending_ms.get(t.index) == i:
                        del self.pending_ms[t.index]
            if senders:
                self._recompute_pending(senders)
            self.stats["unsolid_expired"] += len(old)
            log.info("tangle: %d transactions never got their parents within %.0fs: forgotten",
                     len(old), self.config.unsolid_ttl_s)
            return len(old)

    def _sync_loop(self) -> None:
        while not self._stop.wait(self.config.sync_interval):
            try:
                self.sync_once()
                self.expire_unsolid()
            except Exception:  # noqa: BLE001 - keep the loop alive; the error is logged
                log.exception("sync failed")

    def _coordinator_loop(self) -> None:
        while not self._stop.wait(self.config.milestone_interval):
            try:
                self.issue_milestone()
            except Exception:
                log.exception("milestone failed")

    def start(self) -> None:
        loops = [self._gossip_loop, self._sync_loop]
        if self.config.run_coordinator:
            loops.append(self._coordinator_loop)
        for fn in loops:
            th = threading.Thread(target=fn, name=f"tangle-{fn.__name__}", daemon=True)
            th.start()
            self._threads.append(th)

    def stop(self) -> None:
        self._stop.set()
        for th in self._threads:
            th.join(timeout=5)
        if self._verify_pool is not None:
            self._verify_pool.shutdown(cancel_futures=True)
        self.engine.dispose()
