"""The device agent's WoT server as a fuzz target (``exchange.fuzz.targets.TARGETS["device-agent"]``).

A real agent (identity, config, state database, recorder) is created under the work dir and
served by ``AgentRunner.serve`` — the same server ``device-agent run`` starts — on a free
port. The source's recording loop is not started (it would change the recording on its own
while fuzzed); its past day is recorded once before, so history and event reads find data.
Keys: a valid one, one revoked, one expired, one not yet valid, one for another device and
one signed by another key; every data route is tried with each (the last five must be refused).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import sqlalchemy as sa

from device_agent.recorder import RECORDER_FILE
from device_agent.runner import AgentRunner, fleet_config, init_agent
from device_agent.state import STATE_FILE, TABLES, AgentToken
from exchange.crypto import AccessClaims, generate_ed25519, issue_token
from exchange.fuzz import FuzzFailure, Req, Route, Target
from exchange.fuzz.harness import NASTY_TEXT
from exchange.relay.e2e import SEALED_PATH, SEALED_TYPE, seal_request

PASSWORD = "fuzz the device agent"
DATA_DIR = "device-agent"  # under the work dir
DAY = 86_400


JSON = (("Content-Type", "application/json"),)


def _bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("Authorization", f"Bearer {token}"),)


def _with_key(build, token: str):
    if build is None:
        return None
    return lambda rng: replace(req := build(rng), headers=(*req.headers, *_bearer(token)))


def _as_head(build):
    return lambda rng: replace(build(rng), method="HEAD")


def _without_key(build, bad_keys: list[str]):
    """The same request with no key (a fifth of them) or a key this device must refuse."""
    def refused(rng: random.Random) -> Req:
        req = build(rng)
        return req if rng.random() < 0.2 else replace(req, headers=(*req.headers, *_bearer(rng.choice(bad_keys))))
    return refused


@contextlib.contextmanager
def wot_server(workdir: Path) -> Iterator[Target]:
    data_dir = Path(workdir) / DATA_DIR
    # The fuzzer is one client sending thousands of requests: rate limits far above its pace
    # (429s would hide every other answer). Limits themselves are tested in tests/agent.
    init_agent(data_dir, PASSWORD, fleet_config(0, http_port=0, rate_per_second=1e6, rate_burst=10**6,
                                                stream_ledgers=[]), kdf_n=2**12)
    runner = AgentRunner(data_dir, PASSWORD, streams=False)
    agent = runner.agent
    agent.source.catch_up(agent.recorder)
    runner.serve(subscribe_wait_s=0.5)  # a subscription without an event answers 204 after this
    now = agent.clock()
    device = agent.identity.device_id_hex
    sk = agent.identity.ed25519_private

    def key(auction_id: int, nbf: int, naf: int, device_id: str = device, signer: bytes = sk) -> str:
        claims = AccessClaims(device_id=device_id, auction_id=auction_id, buyer="0x" + "ab" * 20,
                              not_before=nbf, not_after=naf)
        agent.state.add_token(AgentToken(token_id=claims.token_id, auction_id=auction_id, buyer=claims.buyer,
                                         not_before=nbf, not_after=naf, delivered=True))
        return issue_token(signer, claims)

    good = key(1, now - 2 * DAY, now + 30 * DAY)
    revoked_key = key(2, now - 2 * DAY, now + 30 * DAY)
    agent.state.mark_token(next(t.token_id for t in agent.state.tokens() if t.auction_id == 2), revoked=True)
    bad_keys = [revoked_key, key(3, now - 9 * DAY, now - 8 * DAY), key(4, now + 5 * DAY, now + 9 * DAY),
                key(5, now - DAY, now + DAY, device_id="cd" * 32), key(6, now - DAY, now + DAY,
                                                                       signer=generate_ed25519()[0])]
    props = [p.name for p in agent.profile.properties]
    events = [e.name for e in agent.profile.events]

    def history(rng: random.Random) -> Req:
        t = agent.clock()
        lo = rng.randint(t - 2 * DAY, t - 60)
        ask = {"property": rng.choice(props), "from": lo, "to": rng.randint(lo, t)}
        if rng.random() < 0.5:
            ask["step"] = rng.choice([60, 300, 3600])
        return Req("POST", "/actions/history", JSON, json.dumps(ask).encode())

    def events_poll(rng: random.Random) -> Req:  # since= : recorded events at once (no wait)
        return Req("GET", f"/events/{rng.choice(events)}?since={agent.clock() - rng.randint(60, 2 * DAY)}")

    builders = {  # (endpoint, method) -> a request the server must accept
        ("thing_description", "GET"): lambda rng: Req("GET", "/.well-known/wot"),
        ("all_properties", "GET"): lambda rng: Req("GET", rng.choice(
            ["/properties", "/properties?names=" + ",".join(rng.sample(props, rng.randint(1, len(props))))])),
        ("all_properties", "POST"): lambda rng: Req("POST", "/properties", JSON, json.dumps(
            rng.sample(props, rng.randint(1, len(props)))).encode()),
        ("read_property", "GET"): lambda rng: Req("GET", f"/properties/{rng.choice(props)}"),
        ("history", "POST"): history,
        ("read_events", "GET"): events_poll,
        ("read_events", "HEAD"): lambda rng: Req("HEAD", f"/events/{rng.choice(events)}"),
    }
    x25519_public = agent.identity.x25519_public

    wire_safe = [t for t in NASTY_TEXT if all(c == "\t" or " " <= c <= "~" or "\x80" <= c <= "\xff" for c in t)]
    wire_unsafe = [t for t in NASTY_TEXT if t not in wire_safe]

    def sealed(rng: random.Random, nasty: list[str] = wire_safe) -> Req:
        """What a relay forwards: one of the requests above (with the key, or an odd header)
        sealed to the device's public key; the device answers 200 with the sealed inner answer."""
        inner_route = rng.choice([k for k in builders if k[0] != "sealed"])
        inner = builders[inner_route](rng)
        headers = {**dict(inner.headers), "Authorization": f"Bearer {good}"}
        if nasty is wire_unsafe or rng.random() < 0.3:
            headers[rng.choice(["Authorization", "X-Thing", "Content-Type"])] = rng.choice(nasty)
        box, _ = seal_request(x25519_public, device, inner.method, inner.path, headers, inner.body)
        return Req("POST", SEALED_PATH, (("Content-Type", SEALED_TYPE),), box)

    def sealed_unsendable(rng: random.Random) -> Req:  # a header no HTTP request could carry: 400
        return sealed(rng, wire_unsafe)

    builders[("sealed", "POST")] = sealed
    public = {"thing_description", "sealed"}  # a sealed request carries its key inside
    samples = {"name": (events or props)[0]}
    routes = []
    # Every rule of the app, so a route added later is fuzzed too (with hostile variants of its
    # path at least, until it gets a valid-request builder here).
    for rule in runner.app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = rule.build({k: samples.get(k, "x") for k in rule.arguments}, append_unknown=False)[1]
        if rule.endpoint == "read_property":
            path = f"/properties/{props[0]}"
        for method in sorted(rule.methods - {"OPTIONS"}):
            build = builders.get((rule.endpoint, method))
            if build is None and method == "HEAD" and (rule.endpoint, "GET") in builders:
                build = _as_head(builders[(rule.endpoint, "GET")])
            if rule.endpoint == "read_events" and not events:
                build = None
            if rule.endpoint == "sealed":
                routes.append(Route(method, path, build, json=False, refused=sealed_unsendable))
                continue
            if rule.endpoint in public:
                routes.append(Route(method, path, build, json=method == "POST"))
                continue
            routes.append(Route(method, path, _with_key(build, good), json=method == "POST",
                                refused=_without_key(build or (lambda rng, m=method, p=path: Req(m, p)), bad_keys)))

    # SQLite's data_version moves whenever another connection commits to the file: a digest of
    # both databases (the agent's state and the recording) that costs microseconds per call.
    watchers = [sqlite3.connect(data_dir / name, check_same_thread=False) for name in (STATE_FILE, RECORDER_FILE)]
    baseline = content(agent)

    def digest():
        return tuple(w.execute("PRAGMA data_version").fetchone()[0] for w in watchers)

    host, port = runner.url.removeprefix("http://").split(":")
    try:
        yield Target("device-agent", host, int(port), routes, digest, max_body=4096)
        if content(agent)[0] != baseline[0]:  # reads only record readings: tokens, auctions, consent unchanged
            raise FuzzFailure(f"fuzz device-agent: the agent's state changed: {baseline[0]} -> {content(agent)[0]}")
    finally:
        for w in watchers:
            w.close()
        runner.stop()


def content(agent) -> tuple[str, tuple]:
    """(hash of every row of the agent's state, counts and latest times of its recording)."""
    with agent.state.engine.connect() as c:
        rows = tuple(tuple(c.execute(sa.select(t.__table__).order_by(*t.__table__.primary_key.columns)))
                     for t in TABLES)
    with contextlib.closing(sqlite3.connect(agent.data_dir / RECORDER_FILE)) as db:
        recording = tuple(db.execute(
            "SELECT (SELECT count(*) FROM prop), (SELECT count(*) FROM reading), (SELECT max(t) FROM reading),"
            " (SELECT count(*) FROM event), (SELECT max(t) FROM event)").fetchone())
    return hashlib.sha256(repr(rows).encode()).hexdigest(), recording
