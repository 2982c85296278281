"""The servers the fuzz suite runs against: name -> ``"module:factory"``.

A factory is a context manager ``factory(workdir: Path) -> Iterator[Target]``: it starts a real
server on a free port (with its own database under ``workdir``), yields its ``Target``, and
stops it. ``tests/fuzz`` and ``thingbid bench fuzz`` both go through ``TARGETS``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path

from exchange.fuzz.harness import Route, Target
from exchange.fuzz.wire import Req

TARGETS: dict[str, str] = {
    "tangle": "exchange.fuzz.targets:tangle_node",
    "jsonrpc": "exchange.fuzz.targets:embedded_jsonrpc",
    "device-agent": "device_agent.fuzz_target:wot_server",
    "relay": "exchange.fuzz.targets:relay",
    "web": "frontend.fuzz_target:web_app",
}


def load(name: str) -> Callable[[Path], contextlib.AbstractContextManager[Target]]:
    mod, _, fn = TARGETS[name].partition(":")
    return getattr(importlib.import_module(mod), fn)


JSON = (("Content-Type", "application/json"),)


def _post(path: str, obj) -> Req:
    import json

    return Req("POST", path, JSON, json.dumps(obj).encode())


# --------------------------------------------------------------------------- tangle node


@contextlib.contextmanager
def tangle_node(workdir: Path, db_url: str | None = None) -> Iterator[Target]:
    """One tangle node (HTTP only: no gossip/sync/coordinator threads changing state on their own)."""
    import sqlalchemy as sa

    from exchange.tangle import tx as txm
    from exchange.tangle.node import Node, NodeConfig, dev_key
    from exchange.tangle.server import MAX_BODY, NodeServer
    from exchange.tangle.wallet import Wallet

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    db_url = db_url or f"sqlite:///{workdir / f'fuzz-tangle-{os.getpid()}-{id(workdir)}.db'}"
    node = Node(NodeConfig(db_url=db_url, difficulty=2, run_coordinator=False, rate_per_s=0, max_peers=4))
    srv = NodeServer(node, background=False).start()
    funded = Wallet(dev_key(1, "faucet"))
    built = {"n": 0}

    def fresh_tx(rng: random.Random) -> bytes:
        built["n"] += 1
        if built["n"] % 300 == 0:  # keep the unconfirmed set (and tip selection) small
            node.issue_milestone()
        parents = sorted(node.select_tips(2))
        if len(parents) < 2:
            parents *= 2
        if rng.random() < 0.3:
            info = node.account_info(funded.address)
            if info["last_pending"]:
                parents = sorted({*parents, info["last_pending"]})
                parents = parents * 2 if len(parents) < 2 else parents
            return txm.build(funded._key, txm.VALUE,
                             txm.value_payload(os.urandom(32).hex(), rng.randint(1, 50), info["next_sequence"]),
                             parents, network=1, difficulty=2)
        w = Wallet.from_seed(rng.randbytes(16))
        if rng.random() < 0.3:
            return txm.build(w._key, txm.STREAM, os.urandom(32) + rng.randbytes(rng.randint(0, 64)), parents,
                             network=1, difficulty=2)
        return txm.build(w._key, txm.DATA, txm.data_payload(f"fz{rng.randint(0, 9)}", rng.randbytes(8)), parents,
                         network=1, difficulty=2)

    def some_id(rng):
        ids = list(node.graph.parents)
        return rng.choice(ids[1:] or ids).hex()

    def some_addr(rng):
        return rng.choice([funded.address, os.urandom(32).hex()])

    routes = [
        Route("POST", "/v1/transactions", lambda r: _post("/v1/transactions", {"tx": fresh_tx(r).hex()})),
        Route("POST", "/v1/transactions/batch",
              lambda r: _post("/v1/transactions/batch", {"txs": [fresh_tx(r).hex() for _ in range(r.randint(1, 3))]})),
        Route("GET", "/v1/transactions/" + "0" * 64, lambda r: Req("GET", f"/v1/transactions/{some_id(r)}")),
        Route("GET", "/v1/transactions/" + "0" * 64 + "/raw", lambda r: Req("GET", f"/v1/transactions/{some_id(r)}/raw")),
        Route("GET", "/v1/tips", lambda r: Req("GET", "/v1/tips")),
        Route("GET", "/v1/balances/" + "0" * 64, lambda r: Req("GET", f"/v1/balances/{some_addr(r)}")),
        Route("GET", "/v1/accounts/" + "0" * 64, lambda r: Req("GET", f"/v1/accounts/{some_addr(r)}")),
        Route("GET", "/v1/find?tag=fz1&kind=data&since=0&limit=10",
              lambda r: Req("GET", r.choice([f"/v1/find?tag=fz{r.randint(0, 9)}&limit={r.randint(1, 50)}",
                                             f"/v1/find?address={funded.address}&kind=value&since={r.randint(0, 99)}",
                                             "/v1/find?kind=stream&limit=5"]))),
        Route("GET", "/v1/milestones?since=0", lambda r: Req("GET", f"/v1/milestones?since={r.randint(0, 5)}")),
        Route("GET", "/v1/info", lambda r: Req("GET", "/v1/info")),
        Route("GET", "/v1/peers", lambda r: Req("GET", "/v1/peers")),
        Route("POST", "/v1/peers", lambda r: _post("/v1/peers", {"url": srv.url})),  # itself: accepted, no change
        Route("POST", "/v1/faucet", lambda r: _post("/v1/faucet", {"address": os.urandom(32).hex(),
                                                                   "amount": r.randint(1, 1000)})),
        Route("POST", "/v1/gossip", lambda r: _post("/v1/gossip", {"txs": [fresh_tx(r).hex()]})),
        Route("GET", "/v1/sync?since=0&limit=10",
              lambda r: Req("GET", f"/v1/sync?since={r.randint(0, 50)}&limit={r.randint(1, 20)}")),
    ]

    one_query = sa.text(
        "SELECT (SELECT count(*) FROM tangle_tx), (SELECT max(arrival) FROM tangle_tx),"
        " (SELECT count(*) FROM tangle_account), (SELECT sum(balance) FROM tangle_account),"
        " (SELECT sum(next_seq) FROM tangle_account), (SELECT count(*) FROM tangle_milestone),"
        " (SELECT count(*) FROM tangle_peer), (SELECT sum(cursor) FROM tangle_peer)")

    def digest():
        with node.engine.connect() as c:
            rows = tuple(c.execute(one_query).one())
        return (rows, node.count, len(node.graph.parents), len(node.unsolid), tuple(sorted(node.peers)),
                node.latest_milestone, node.supply())

    host, port = srv.url.removeprefix("http://").split(":")
    try:
        yield Target("tangle", host, int(port), routes, digest, max_body=MAX_BODY)
    finally:
        srv.stop()


# --------------------------------------------------------------------------- embedded JSON-RPC


def eth_tester_state(chain) -> tuple:
    """The embedded chain's head (number, hash, state root, timestamps): moves with any transaction."""
    with chain.lock:
        latest = chain.tester.get_block_by_number("latest")
        pending = chain.tester.get_block_by_number("pending")
    return latest["number"], latest["hash"], latest["state_root"], latest["timestamp"], pending["timestamp"]



@contextlib.contextmanager
def embedded_jsonrpc(workdir: Path) -> Iterator[Target]:
    """The in-process eth-tester chain served over JSON-RPC (``thingbid up --chain embedded``)."""
    import json

    from exchange.chain.connect import embedded_chain
    from exchange.chain.rpcserver import MAX_BODY, EmbeddedRpcServer

    chain = embedded_chain()
    srv = EmbeddedRpcServer(chain).start()
    accounts = list(chain.accounts)
    ids = iter(range(1, 10**9))

    def call(method, params):
        return {"jsonrpc": "2.0", "id": next(ids), "method": method, "params": params}

    def one(rng: random.Random) -> dict:
        a, b = rng.choice(accounts), rng.choice(accounts)
        r = rng.random()
        if r < 0.02:  # mining a transaction costs ~20 ms on eth-tester: a few suffice
            return call("eth_sendTransaction", [{"from": a, "to": b, "value": hex(rng.randint(1, 1000)),
                                                 "gas": "0x5208"}])
        if r < 0.06:
            return call("eth_estimateGas", [{"from": a, "to": b, "value": hex(rng.randint(1, 1000))}])
        if r < 0.08:
            return call(rng.choice(["evm_mine", "evm_increaseTime"]), [] if r < 0.07 else [rng.randint(0, 3600)])
        return rng.choice([
            call("eth_blockNumber", []), call("eth_chainId", []), call("net_version", []),
            call("eth_gasPrice", []), call("eth_getBalance", [a, "latest"]),
            call("eth_getTransactionCount", [a, "latest"]), call("eth_getBlockByNumber", ["latest", False]),
            call("eth_getCode", [a, "latest"]), call("eth_accounts", []),
            call("eth_call", [{"from": a, "to": b, "data": "0x"}, "latest"]),
        ])

    def valid(rng: random.Random) -> Req:
        body = one(rng) if rng.random() < 0.8 else [one(rng) for _ in range(rng.randint(1, 3))]
        return Req("POST", "/", JSON, json.dumps(body).encode())

    def digest():
        with srv.lock:
            return eth_tester_state(chain)

    def refused(resp) -> bool:
        if resp.status is not None and 400 <= resp.status < 500:
            return True
        try:
            obj = json.loads(resp.body)
        except (ValueError, UnicodeDecodeError):
            return False
        items = obj if isinstance(obj, list) else [obj]
        return bool(items) and all(isinstance(i, dict) and "error" in i for i in items)

    host, port = srv.url.removeprefix("http://").split(":")
    try:
        yield Target("jsonrpc", host, int(port), [Route("POST", "/", valid)], digest, max_body=MAX_BODY,
                     refused=refused)
    finally:
        srv.stop()
        chain.close()


# --------------------------------------------------------------------------- relay


@contextlib.contextmanager
def relay(workdir: Path) -> Iterator[Target]:
    """The relay (``thingbid relay``) with two agents connected over real WebSockets; each agent
    answers every forwarded request itself (200, or 404 off its API), like a device would."""
    from exchange.crypto import generate_ed25519
    from exchange.relay.keys import TableKeys
    from exchange.relay.link import RelayConnector
    from exchange.relay.protocol import MAX_REQUEST_BODY
    from exchange.relay.server import Relay, RelayThread

    devices = [(os.urandom(20) + bytes(12), generate_ed25519()) for _ in range(2)]
    keys = TableKeys({d.hex(): pk.hex() for d, (_sk, pk) in devices})

    def device(method, target, _headers, _client, body):
        if target.split("?", 1)[0] in ("/properties/temperature", "/properties", "/sealed"):
            return 200, [("Content-Type", "application/json")], b'{"ok": true, "echo": %d}' % len(body)
        return 404, [("Content-Type", "application/json")], b'{"error": "not_found", "detail": "no such resource"}'

    server = RelayThread(Relay(keys, "fuzz-relay")).start()
    connector = RelayConnector(workers=4).start()
    links = [connector.add(server.url, d, sk, device) for d, (sk, _pk) in devices]
    for link in links:
        if not link.connected.wait(15):
            raise RuntimeError(f"fuzz relay: an agent did not connect ({link.last_refusal})")
    ids = [d.hex() for d, _ in devices]
    routes = [
        Route("GET", f"/devices/{ids[0]}/properties/temperature",
              lambda r: Req("GET", f"/devices/{r.choice(ids)}/properties/temperature")),
        Route("GET", f"/devices/{ids[0]}/properties?names=a,b",
              lambda r: Req("GET", f"/devices/{r.choice(ids)}/properties?names=a,b")),
        Route("POST", f"/devices/{ids[0]}/sealed",
              lambda r: Req("POST", f"/devices/{r.choice(ids)}/sealed",
                            (("Content-Type", "application/vnd.thingbid.sealed"),), r.randbytes(r.randint(60, 2000)))),
        Route("GET", "/v1/info", lambda r: Req("GET", "/v1/info")),
    ]

    def digest():
        return (tuple(sorted(d.hex() for d in server.relay.links)), tuple(link.connects for link in links))

    try:
        yield Target("relay", "127.0.0.1", server.port, routes, digest, max_body=MAX_REQUEST_BODY)
    finally:
        connector.stop()
        server.stop()
