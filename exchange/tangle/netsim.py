"""A tangle network on loopback under faults (issue 19): node processes, a TCP proxy per link, a seeded scenario.

- ``ProxyHub``: one asyncio loop (a background thread) running a TCP proxy for every directed
  link i -> j. Node i's peer URL for j is its proxy, so every gossip push, sync pull and parent
  fetch between nodes goes through it. Each link adds latency (+ jitter) to every chunk it
  carries, drops a connection with probability ``loss`` (the request fails like a lost packet
  train: the node backs the peer off and retries), and can be cut (partitions: new connections
  are closed at once, open ones are closed). All randomness comes from the scenario's seed.
- ``Network``: ``nodes`` real node processes (``thingbid tangle node``, SQLite each), node 0 runs
  the coordinator; peers form a seeded random graph of ``degree`` links per node (ring + chords,
  so it is connected). Clients talk to the nodes directly.
- ``run_scenario``: a normal phase (traffic, no faults: confirmation latency at the node a
  transfer was submitted to), then ``duration_s`` of seeded chaos (random partitions into two
  groups, heals, kills of random non-coordinator nodes and of the coordinator, double spends sent
  to two nodes at once, preferably on either side of a partition, and value transfers all the
  while), then everything healed and restarted, and the checks:
  every node reports ``status: ok`` and the same ledger root at a common milestone index;
  every transaction seen confirmed anywhere during the run is confirmed on every node;
  every double spend resolved the same way on every node (exactly one of the pair confirmed);
  milestones still come after the coordinator was killed and restarted.

The coordinator does not fail over: a killed coordinator stops confirmation (transactions are
still accepted and gossiped) until it is restarted on its database; it then resumes at the next
index and confirms what arrived meanwhile. ``thingbid bench tangle-net`` runs the long form and
``tests/tangle/test_network16.py`` (marked slow) the short one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from exchange.tangle.client import TangleClient
from exchange.tangle.errors import TangleError, TangleRejected
from exchange.tangle.testing import NodeProcess, free_port
from exchange.tangle.wallet import Wallet


@dataclass(eq=False)
class Link:
    src: int
    dst: int
    target_port: int
    latency_s: float
    jitter_s: float
    loss: float
    rng: random.Random
    cut: bool = False
    port: int = 0
    open: set = field(default_factory=set)
    carried: int = 0
    dropped: int = 0

    def delay(self) -> float:
        return self.latency_s + self.jitter_s * self.rng.random()


class ProxyHub:
    """TCP proxies for the network's links, on one event loop in a background thread."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="netsim-proxies", daemon=True)
        self._servers: list[asyncio.base_events.Server] = []
        self.links: dict[tuple[int, int], Link] = {}

    def start(self) -> ProxyHub:
        self._thread.start()
        return self

    def _call(self, coro, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def add(self, link: Link) -> Link:
        async def serve():
            server = await asyncio.start_server(lambda r, w: self._handle(link, r, w), "127.0.0.1", 0, backlog=512)
            self._servers.append(server)
            return server.sockets[0].getsockname()[1]

        link.port = self._call(serve())
        self.links[(link.src, link.dst)] = link
        return link

    async def _handle(self, link: Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if link.cut or link.rng.random() < link.loss:
            link.dropped += 1
            writer.transport.abort()
            return
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", link.target_port)
        except OSError:  # the node is down: the peer sees the connection fail, as it would directly
            writer.transport.abort()
            return
        link.carried += 1
        pair = (writer, up_w)
        link.open.add(pair)
        try:
            await asyncio.gather(self._pipe(link, reader, up_w), self._pipe(link, up_r, writer))
        finally:
            link.open.discard(pair)
            for w in pair:
                w.transport.abort()

    @staticmethod
    async def _pipe(link: Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await asyncio.sleep(link.delay())
                if link.cut:
                    break
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
        except (ConnectionError, OSError, RuntimeError):
            pass
        finally:
            if link.cut:
                writer.transport.abort()

    def set_cut(self, cut: set[tuple[int, int]]) -> None:
        def apply():
            for key, link in self.links.items():
                link.cut = key in cut
                if link.cut:
                    for pair in list(link.open):
                        for w in pair:
                            w.transport.abort()

        self.loop.call_soon_threadsafe(apply)

    def stop(self) -> None:
        async def close():
            for s in self._servers:
                s.close()
            for link in self.links.values():
                for pair in list(link.open):
                    for w in pair:
                        w.transport.abort()

        with contextlib.suppress(Exception):
            self._call(close(), 10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


def peer_graph(nodes: int, degree: int, rng: random.Random) -> list[set[int]]:
    """Undirected peers: a ring (connected whatever happens next) plus random chords up to ``degree``."""
    peers = [set() for _ in range(nodes)]
    for i in range(nodes):
        j = (i + 1) % nodes
        if j != i:
            peers[i].add(j)
            peers[j].add(i)
    for i in rng.sample(range(nodes), nodes):
        candidates = [j for j in range(nodes) if j != i and j not in peers[i] and len(peers[j]) < degree]
        rng.shuffle(candidates)
        while len(peers[i]) < degree and candidates:
            j = candidates.pop()
            peers[i].add(j)
            peers[j].add(i)
    return peers


# Node settings for the simulated network: peers behind a partition are retried every <= 2 s and
# never dropped (the default drops a peer after 20 failures in a row, about 15 minutes of backoff).
NET_NODE_CONFIG = {"sync_interval": 0.3, "milestone_interval": 0.2, "peer_backoff_s": 0.2, "peer_backoff_max_s": 2.0,
                   "peer_max_failures": 1_000_000, "http_timeout": 2.0, "pow_free_rate": 0, "pow_free_rate_per_sender": 0}


class Network:
    def __init__(self, workdir: Path, nodes: int = 16, degree: int = 4, seed: int = 1, latency_ms: float = 5.0,
                 jitter_ms: float = 5.0, loss: float = 0.01):
        if nodes < 2:
            raise ValueError("a network needs at least 2 nodes")
        self.workdir, self.n, self.rng = Path(workdir), nodes, random.Random(seed)
        self.peers = peer_graph(nodes, degree, self.rng)
        self.ports = [free_port() for _ in range(nodes)]
        self.hub = ProxyHub().start()
        self.procs: list[NodeProcess] = []
        self.up = [False] * nodes
        for i in range(nodes):
            for j in sorted(self.peers[i]):
                self.hub.add(Link(i, j, self.ports[j], latency_ms / 1000, jitter_ms / 1000, loss,
                                  random.Random(f"{seed}-{i}-{j}")))
        for i in range(nodes):
            urls = [f"http://127.0.0.1:{self.hub.links[(i, j)].port}" for j in sorted(self.peers[i])]
            self.procs.append(NodeProcess(self.workdir / f"node{i:02d}.db", self.ports[i], peers=urls,
                                          run_coordinator=(i == 0), **NET_NODE_CONFIG))
        self.clients = [TangleClient(f"http://127.0.0.1:{p}", timeout=5) for p in self.ports]

    def start(self) -> Network:
        errors: list[BaseException] = []

        def one(i):
            try:
                self.restart(i)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=one, args=(i,)) for i in range(self.n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return self

    def kill(self, i: int) -> None:
        self.procs[i].kill()
        self.up[i] = False

    def restart(self, i: int) -> None:
        self.procs[i].start(timeout=60)
        self.up[i] = True

    def partition(self, side: set[int]) -> None:
        """Cut every link between ``side`` and the rest (both directions)."""
        self.hub.set_cut({k for k in self.hub.links if (k[0] in side) != (k[1] in side)})

    def heal(self) -> None:
        self.hub.set_cut(set())

    def stop(self) -> None:
        for p in self.procs:
            p.stop()
        self.hub.stop()


def _quiet(fn, *args):
    try:
        return fn(*args)
    except (TangleError, TangleRejected, OSError, ValueError):
        return None


@dataclass
class _Traffic:
    """Value transfers from a few funded wallets to random nodes, recorded by id."""

    net: Network
    wallets: list[Wallet]
    rng: random.Random
    sent: dict[str, int] = field(default_factory=dict)  # tx id -> node it was submitted to
    confirmed_seen: set[str] = field(default_factory=set)
    latencies: list[float] = field(default_factory=list)

    def send_one(self, measure: bool = False) -> str | None:
        live = [i for i in range(self.net.n) if self.net.up[i]]
        node = self.rng.choice(live)
        w = self.rng.choice(self.wallets)
        client = self.net.clients[node]
        raw = _quiet(w.transfer_bytes, client, Wallet.generate().address, 1)
        if raw is None:
            return None
        t0 = time.monotonic()
        tx_id = _quiet(client.submit, raw)
        if tx_id is None:
            return None
        self.sent[tx_id] = node
        if measure:
            deadline = t0 + 20
            while time.monotonic() < deadline:
                d = _quiet(client.get, tx_id)
                if d and d["milestone"] is not None:
                    self.latencies.append(time.monotonic() - t0)
                    break
                time.sleep(0.05)
            else:
                self.latencies.append(float("inf"))
        return tx_id

    def sample_confirmed(self, k: int = 5) -> None:
        ids = self.rng.sample(sorted(self.sent), min(k, len(self.sent)))
        for tx_id in ids:
            node = self.rng.choice([i for i in range(self.net.n) if self.net.up[i]])
            d = _quiet(self.net.clients[node].get, tx_id)
            if d and d["confirmed"]:
                self.confirmed_seen.add(tx_id)


@dataclass
class _Spender:
    wallet: Wallet
    rng: random.Random


def _double_spend(net: Network, spender: _Spender, side: set[int] | None) -> tuple[str, str] | None:
    """Two transfers with one sequence from one wallet, sent at once to two nodes (either side of
    the partition when there is one)."""
    rng, w, seq = spender.rng, spender.wallet, 0
    live = [i for i in range(net.n) if net.up[i]]
    if len(live) < 2:
        return None
    a_side = [i for i in live if side and i in side]
    b_side = [i for i in live if side and i not in side]
    a, b = (rng.choice(a_side), rng.choice(b_side)) if a_side and b_side else rng.sample(live, 2)
    first = _quiet(w.transfer_bytes, net.clients[a], Wallet.generate().address, 2, b"", seq)
    second = _quiet(w.transfer_bytes, net.clients[b], Wallet.generate().address, 3, b"", seq)
    if first is None or second is None:
        return None
    out: list = [None, None]
    ts = [threading.Thread(target=lambda k, c, r: out.__setitem__(k, _quiet(c.submit, r)), args=(k, net.clients[n], r))
          for k, (n, r) in enumerate(((a, first), (b, second)))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)
    return (out[0], out[1]) if all(out) else None


def _wait(pred, timeout: float, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = _quiet(pred)
        if value:
            return value
        time.sleep(interval)
    return None


def run_scenario(workdir: Path, nodes: int = 16, duration_s: float = 60.0, seed: int = 1, step_s: float = 4.0,
                 normal_samples: int = 30, log=None) -> dict:
    """Run the scenario described in the module docstring; returns the report (checks and figures)."""
    say = log or (lambda *_: None)
    rng = random.Random(seed)
    net = Network(workdir, nodes=nodes, seed=seed)
    report: dict = {"nodes": nodes, "seed": seed, "duration_s": duration_s}
    try:
        t_start = time.monotonic()
        net.start()
        report["start_s"] = round(time.monotonic() - t_start, 2)
        faucet_node = net.clients[0]
        wallets = [Wallet.from_seed(b"netsim-%d-%d" % (seed, k)) for k in range(6)]
        spend_wallets = [Wallet.from_seed(b"netsim-spend-%d-%d" % (seed, k)) for k in range(max(4, int(duration_s / step_s)))]
        funds = [faucet_node.faucet(w.address, 10**6) for w in wallets + spend_wallets]
        for c in net.clients:
            for f in funds:
                if not _wait(lambda c=c, f=f: c.get(f)["confirmed"], 60):
                    raise TangleError(f"funding never confirmed on {c.base_url}")
        say("funded; normal phase")
        traffic = _Traffic(net, wallets, random.Random(seed + 1))
        # each double spend comes from its own wallet (funded once, spending sequence 0 twice), so
        # no ordinary transfer takes that sequence and exactly one of the pair must win everywhere
        spenders = [_Spender(w, traffic.rng) for w in spend_wallets]
        for _ in range(normal_samples):
            traffic.send_one(measure=True)
        lat = sorted(traffic.latencies)
        report["confirm_p50_s"] = round(statistics.median(lat), 3)
        report["confirm_p99_s"] = round(lat[min(len(lat) - 1, int(0.99 * len(lat)))], 3)

        events = {"partitions": 0, "heals": 0, "kills": 0, "coordinator_kills": 0, "double_spends": 0}
        pairs: list[tuple[str, str]] = []
        down_until: dict[int, float] = {}
        side: set[int] | None = None
        coordinator_killed = False
        ms_at_kill = 0
        chaos_end = time.monotonic() + duration_s
        next_event = time.monotonic()
        while time.monotonic() < chaos_end:
            now = time.monotonic()
            for i, t in list(down_until.items()):
                if now >= t:
                    net.restart(i)
                    del down_until[i]
            if now >= next_event:
                next_event = now + step_s * (0.5 + rng.random())
                action = rng.choice(["partition", "heal", "kill", "double_spend", "double_spend",
                                     "kill_coordinator" if not coordinator_killed else "kill"])
                if now > chaos_end - 2 * step_s and not coordinator_killed:
                    action = "kill_coordinator"  # every run kills the coordinator once
                if action == "partition":
                    side = set(rng.sample(range(nodes), rng.randint(1, nodes // 2)))
                    net.partition(side)
                    events["partitions"] += 1
                elif action == "heal":
                    net.heal()
                    side = None
                    events["heals"] += 1
                elif action == "kill":
                    candidates = [i for i in range(1, nodes) if net.up[i]]
                    if candidates and len(candidates) > nodes // 2:
                        i = rng.choice(candidates)
                        net.kill(i)
                        down_until[i] = now + step_s * (0.5 + rng.random())
                        events["kills"] += 1
                elif action == "kill_coordinator" and net.up[0]:
                    ms_at_kill = _quiet(lambda: net.clients[0].info()["latest_milestone"]) or 0
                    net.kill(0)
                    down_until[0] = now + step_s * (0.5 + rng.random())
                    events["coordinator_kills"] += 1
                    coordinator_killed = True
                elif action == "double_spend" and len(spenders) > 1:
                    pair = _double_spend(net, spenders.pop(), side)
                    if pair:
                        pairs.append(pair)
                        events["double_spends"] += 1
                say(f"{action}: up {sum(net.up)}/{nodes}, partitioned {sorted(side) if side else '-'}")
            traffic.send_one()
            traffic.sample_confirmed(2)
            time.sleep(0.05)
        report.update(events)
        report["txs_sent"] = len(traffic.sent)

        # heal and bring everyone back, then let the network settle
        t_heal = time.monotonic()
        net.heal()
        for i in list(down_until):
            net.restart(i)
        latest0 = _wait(lambda: net.clients[0].info()["latest_milestone"], 30) or 0
        final_pair = _double_spend(net, spenders.pop(), None) if spenders else None  # one more, all back
        if final_pair:
            pairs.append(final_pair)
            report["double_spends"] += 1

        def settled():
            traffic.send_one()  # the coordinator signs a milestone only when there is something new
            infos = [net.clients[i].info() for i in range(nodes)]
            low = min(x["latest_milestone"] for x in infos)
            if low <= latest0 + 2:
                say(f"settling: milestones {[x['latest_milestone'] for x in infos]}")
                return None
            for a, b in pairs:
                for c in net.clients:
                    if c.get(a)["milestone"] is None or c.get(b)["milestone"] is None:
                        say(f"settling: a double spend not yet referenced on {c.base_url}")
                        return None
            return infos

        infos = _wait(settled, 180, 0.5)
        report["converge_s"] = round(time.monotonic() - t_heal, 2) if infos else None
        report["milestone_at_coordinator_kill"] = ms_at_kill
        report["resumed_after_coordinator"] = bool(infos) and min(x["latest_milestone"] for x in infos) > max(
            latest0, ms_at_kill)
        if not infos:
            report["converged"] = False
            return report
        report["status_ok"] = all(x["status"] == "ok" for x in infos)
        common = min(x["latest_milestone"] for x in infos)
        roots = set()
        for c in net.clients:
            ms = [m for m in _quiet(c.milestones, max(0, common - 1)) or [] if m["index"] == common]
            roots.add(ms[0]["ledger_root"] if ms else None)
        report["milestone_checked"] = common
        report["ledger_roots_agree"] = len(roots) == 1 and None not in roots
        lost = 0
        for tx_id in sorted(traffic.confirmed_seen):
            for c in net.clients:
                d = _quiet(c.get, tx_id)
                if not (d and d["confirmed"]):
                    lost += 1
        report["confirmed_seen"] = len(traffic.confirmed_seen)
        report["confirmed_lost"] = lost
        agree = one_each = 0
        for a, b in pairs:
            views = {(c.get(a)["confirmed"], c.get(b)["confirmed"]) for c in net.clients}
            agree += len(views) == 1
            one_each += len(views) == 1 and sum(next(iter(views))) == 1
        report["double_spends_agree"] = agree
        report["double_spends_exactly_one"] = one_each
        report["converged"] = (report["status_ok"] and report["ledger_roots_agree"] and lost == 0
                               and agree == len(pairs) == one_each)
        report["links"] = len(net.hub.links)
        report["connections_dropped"] = sum(x.dropped for x in net.hub.links.values())
        report["load_avg_1m"] = round(os.getloadavg()[0], 1)
        return report
    finally:
        net.stop()
