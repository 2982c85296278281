"""The web app as a fuzz target (``exchange.fuzz.targets.TARGETS["web"]``).

A real world is built under the work dir: contracts on the embedded chain, a few devices checked
in with open auctions and indexed into a SQLite catalog, a tangle node with its coordinator, and
the app served by ``frontend.serve.make_web_server`` (the server ``python -m frontend.serve``
runs) on a free port. Two sessions are made through the app's own forms: one signed in (a local
keystore user, loopback) and one signed out; both have their CSRF token.

Every rule of the app's url_map is a route, each method of it (a rule added later is fuzzed too,
with hostile variants of its path at least). Each route is tried signed in (cookie and the right
CSRF token), and its refusals are the same request with no session, the signed-out session, or
no/a wrong CSRF token; a page that needs a session answers those with a redirect to the sign-in
page (not a 4xx), which counts as refused too: the state digest (chain head, tangle, catalog and
the app's tables in it, keystores) must not move.

4xx answers: JSON ``{"error": ...}`` for API routes (``*.json``, ``/siwe/``, ``/wallet-tx/``,
``/things``, ``/search/``, ``/.well-known/``) and whenever JSON was asked for; the HTML error or
form page with its message (``role="alert"``) otherwise.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import os
import random
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlencode

import sqlalchemy as sa

from exchange.fuzz import Req, Route, Target
from exchange.fuzz.wire import Resp

PASSWORD = "fuzz the web app"
FORM = (("Content-Type", "application/x-www-form-urlencoded"),)



def _session(client) -> tuple[str, str]:
    """(session cookie value, CSRF token) of a Flask test client after a page view."""
    page = client.get("/account/signin").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    return client.get_cookie("thingbid_session").value, html.unescape(token)


def is_api(path: str) -> bool:
    base = path.split("?", 1)[0]
    from frontend import JSON_PREFIXES

    return base.endswith(".json") or base.startswith(JSON_PREFIXES)


def _reason(req: Req, resp: Resp) -> str | None:
    ctype = resp.headers.get("content-type", "")
    if "json" in ctype:
        try:
            obj = json.loads(resp.body)
        except (ValueError, UnicodeDecodeError):
            return f"the {resp.status} answer says JSON but is not: {resp.body[:200]!r}"
        if not isinstance(obj, dict) or not obj.get("error"):
            return f"the {resp.status} JSON answer has no 'error': {resp.body[:200]!r}"
        return None
    path = req.path if req.raw is None else req.raw.split(b" ", 2)[1].decode("latin-1") if req.raw.count(b" ") >= 2 \
        else ""
    if req.raw is None and is_api(path):
        return f"an API route answered {resp.status} without JSON ({ctype or 'no Content-Type'})"
    if "text/html" in ctype and b'role="alert"' in resp.body:
        return None
    return f"the {resp.status} answer is neither JSON nor an HTML page with its message: {ctype!r} {resp.body[:200]!r}"


def _refused(resp: Resp) -> bool:
    if resp.status is None:
        return False
    if 400 <= resp.status < 500:
        return True
    # a page that needs a session sends the visitor to the sign-in page
    return resp.status in (302, 303) and "/account/signin" in resp.headers.get("location", "")


def _accepted(resp: Resp) -> bool:
    return resp.status is not None and 200 <= resp.status < 400


@contextlib.contextmanager
def web_app(workdir: Path) -> Iterator[Target]:
    from exchange.chain.connect import embedded_chain
    from exchange.fuzz.targets import eth_tester_state
    from exchange.tangle.node import Node, NodeConfig
    from exchange.tangle.server import NodeServer
    from frontend import create_app
    from frontend.devworld import build_world, sqlite_url
    from frontend.serve import make_web_server
    from frontend.services import Services
    from frontend.webstate import JOBS, NONCES, PLANS, SESSIONS, WALLET_RUNS

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    chain = embedded_chain()
    world = build_world(chain, workdir / "deployments", sqlite_url(workdir), n_devices=6, hostile=2,
                        open_auctions=True)
    node = Node(NodeConfig(db_url=f"sqlite:///{workdir / 'tangle.db'}", difficulty=2, milestone_interval=0.05,
                           rate_per_s=0, max_peers=1))
    tangle = NodeServer(node).start()
    keystores = workdir / "keystores"
    services = Services(chain, world.manifest, world.database_url, tangle.url, keystores, dev_faucet=True)
    # One client sending thousands of requests: throttles far above its pace (429s would hide every
    # other answer; the throttles themselves are tested in tests/frontend).
    app = create_app({"THINGBID_SERVICES": services, "KEYSTORE_SCRYPT_N": 2**12, "BIND_HOST": "127.0.0.1",
                      "LOGIN_FAILURES_PER_WINDOW": 10**6, "LOGIN_FAILURES_PER_USER_WINDOW": 10**6,
                      "ACCOUNT_CREATIONS_PER_WINDOW": 10**6})
    srv = make_web_server(app, "127.0.0.1", 0)
    server_thread = threading.Thread(target=srv.serve_forever, name="fuzz-web", daemon=True)
    server_thread.start()

    client = app.test_client()
    anon_cookie, anon_csrf = _session(client)
    done = client.post("/account/create", data={"csrf_token": anon_csrf, "username": "fuzzer", "password": PASSWORD,
                                                "confirm": PASSWORD, "mode": "new"})
    if done.status_code not in (302, 303):
        raise RuntimeError(f"fuzz web: could not create the fuzzing user: {done.status_code}")
    user_cookie, user_csrf = _session(client)
    other = app.test_client()
    stranger_cookie, stranger_csrf = _session(other)  # another visitor's signed-out session

    def cookie(value: str) -> tuple[str, str]:
        return ("Cookie", f"thingbid_session={value}")

    def form(path: str, fields: dict, token: str = "") -> Req:
        return Req("POST", path, FORM, urlencode({"csrf_token": token or user_csrf, **fields}).encode())

    devices = [d.device_id.hex() for d in world.devices]
    planned = client.post("/bids/plan", data={"csrf_token": user_csrf, "f_device_id": "0x" + devices[0],
                                              "max_price": "0.5"})
    if planned.status_code != 303:  # the plan page and its estimate are then valid from the start
        raise RuntimeError(f"fuzz web: could not make a bid plan: {planned.status_code}")
    funded = client.post("/wallet/tangle/faucet", data={"csrf_token": user_csrf, "amount": "100000"})
    if funded.status_code not in (302, 303):  # tangle sends have something to send
        raise RuntimeError(f"fuzz web: the tangle faucet refused: {funded.status_code}")
    deposited = client.post("/wallet/deposit", data={"csrf_token": user_csrf, "amount": "1"})
    if deposited.status_code not in (302, 303):  # withdrawals have a deposit to draw on
        raise RuntimeError(f"fuzz web: the deposit was refused: {deposited.status_code}")
    made = {"users": 0}

    def plan_form(rng: random.Random) -> Req:
        price = rng.choice(["0.01", "0.5", "1", "3"])
        fields = {"f_device_id": "0x" + rng.choice(devices)} if rng.random() < 0.5 else {
            "f_type": rng.choice(["", "Refrigerator", "SmartMeter"]), "budget": str(float(price) * 4)}
        return form("/bids/plan", {**fields, "max_price": price})

    def some_plan(rng: random.Random) -> str:
        with state_db.connect() as c:
            ids = list(c.execute(sa.select(PLANS.c.id)).scalars())
        return rng.choice(ids) if ids else "no-plan-yet"

    def new_user(rng: random.Random) -> Req:
        made["users"] += 1
        return form("/account/create", {"username": f"fz{made['users']}x{rng.randrange(10**6)}", "password": PASSWORD,
                                        "confirm": PASSWORD, "mode": "new"}, anon_csrf)

    get = lambda path: lambda rng: Req("GET", path)  # noqa: E731
    builders = {  # (endpoint, method) -> a request the app accepts (2xx or a redirect), signed in
        ("index", "GET"): lambda rng: Req("GET", rng.choice(["/", "/?type=Refrigerator"])),
        ("favicon", "GET"): get("/favicon.ico"),
        ("chartjs", "GET"): get("/vendor/chart.umd.js"),
        ("static", "GET"): lambda rng: Req("GET", rng.choice(["/static/favicon.svg", "/static/app.css", "/static/app.js"])),
        ("catalog.search", "GET"): lambda rng: Req("GET", "/catalog/?" + urlencode(rng.choice([
            {}, {"type": "Refrigerator"}, {"q": "fridge"}, {"geohash": "u33"}, {"sort": "reputation"},
            {"lat": "52.5", "lon": "13.4", "radius_km": "50"}, {"page": "2"}, {"map": "1"}]))),
        ("catalog.device", "GET"): lambda rng: Req("GET", f"/catalog/device/0x{rng.choice(devices)}"),
        ("account.overview", "GET"): get("/account/"),
        ("account.create", "GET"): get("/account/create"),
        ("account.create", "POST"): new_user,
        ("account.signin", "GET"): get("/account/signin"),
        ("account.signin", "POST"): lambda rng: form("/account/signin", {"username": "fuzzer", "password": PASSWORD},
                                                     anon_csrf),
        # signing out the fuzzing session would end it: the signed-out visitor signs out (a no-op)
        ("account.signout", "POST"): lambda rng: form("/account/signout", {}, anon_csrf),
        ("account.whoami", "GET"): get("/account/whoami.json"),
        ("auctions.index", "GET"): get("/auctions/"),
        ("bids.index", "GET"): get("/bids/"),
        ("bids.plan", "POST"): plan_form,
        ("bids.show_plan", "GET"): lambda rng: Req("GET", f"/bids/plan/{some_plan(rng)}"),
        ("keys.index", "GET"): get("/keys/"),
        ("siwe.nonce", "GET"): get("/siwe/nonce.json"),
        ("streams.index", "GET"): get("/streams/"),
        ("streams.offers", "GET"): lambda rng: Req("GET", f"/streams/offers?device_id=0x{rng.choice(devices)}"),
        ("directory.directory_description", "GET"): get("/.well-known/wot"),
        ("directory.list_things", "GET"): lambda rng: Req("GET", rng.choice(["/things", "/things?limit=2"])),
        ("directory.retrieve_thing", "GET"): lambda rng: Req("GET", f"/things/urn:thingbid:device:{rng.choice(devices)}"),
        ("directory.search_jsonpath", "GET"): lambda rng: Req("GET", "/search/jsonpath?query=" + rng.choice(
            ["$[?(@.title)]", "$.title"])),
        ("wallet.index", "GET"): get("/wallet/"),
        ("wallet.deposit", "POST"): lambda rng: form("/wallet/deposit", {"amount": rng.choice(["0.001", "0.01"])}),
        ("wallet.withdraw", "POST"): lambda rng: form("/wallet/withdraw", {"amount": "0.0001"}),
        ("wallet.tangle_faucet", "POST"): lambda rng: form("/wallet/tangle/faucet", {"amount": str(rng.randint(1, 50))}),
        ("wallet.tangle_send", "POST"): lambda rng: form("/wallet/tangle/send", {"to": os.urandom(32).hex(),
                                                                                 "amount": "1"}),
    }
    samples = {"device_id": "0x" + devices[0], "job_id": "job", "pid": "plan", "auction_id": 1, "sid": "s1",
               "action": "deposit", "filename": "favicon.svg", "thing_id": f"urn:thingbid:device:{devices[0]}"}

    as_visitor = {("account.create", "POST"), ("account.signin", "POST"), ("account.signout", "POST")}

    def with_session(key, build):
        """The builder's request with its session: the signed-out visitor's for sign-in, create and
        sign-out, the fuzzing user's for everything else."""
        value = anon_cookie if key in as_visitor else user_cookie
        return lambda rng: replace(req := build(rng), headers=(*req.headers, cookie(value)))

    def refusals(build):
        """The same POST without a session, with another visitor's, or with the CSRF token missing,
        empty, wrong or another session's: the app must refuse it (4xx, or the sign-in redirect)."""
        def refused(rng: random.Random) -> Req:
            req = build(rng)
            plain = tuple(h for h in req.headers if h[0] != "Cookie")
            r = rng.random()
            if r < 0.2:
                return replace(req, headers=plain)
            if r < 0.4:
                return replace(req, headers=(*plain, cookie(stranger_cookie)))
            if r < 0.7:
                token = rng.choice([b"", b"x", stranger_csrf.encode(), (user_csrf[:-1]).encode()])
                return replace(req, body=re.sub(rb"csrf_token=[^&]*", b"csrf_token=" + token, req.body))
            return replace(req, body=req.body.replace(b"csrf_token=", b"csrf_tokens="))
        return refused

    routes: list[Route] = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        path = rule.build({k: samples.get(k, "x") for k in rule.arguments}, append_unknown=False)[1]
        for method in sorted(rule.methods - {"OPTIONS"}):
            key = (rule.endpoint, method)
            build = builders.get(key)
            if build is None and method == "HEAD" and (rule.endpoint, "GET") in builders:
                build = (lambda b: lambda rng: replace(b(rng), method="HEAD"))(builders[(rule.endpoint, "GET")])
            base = build
            if base is None:  # hostile variants of a signed-in request (with the CSRF token)
                base = (lambda m, p: lambda rng: form(p, {}) if m not in ("GET", "HEAD") else Req(m, p))(method, path)
            base = with_session(key, base)
            needs_refusal = method == "POST" and rule.endpoint != "directory.write_refused"
            routes.append(Route(method, path, base if build is not None else None, json=False, base=base,
                                refused=refusals(base) if needs_refusal else None))

    tangle_db = sqlite3.connect(workdir / "tangle.db", check_same_thread=False)
    state_db = services.catalog().engine

    def quiet(timeout: float = 10.0) -> None:
        """Wait for the app's background work (bid jobs) and the tangle's next milestone: both
        change state after the answer that started them."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with state_db.connect() as c:
                running = c.execute(sa.select(sa.func.count()).select_from(JOBS)
                                    .where(JOBS.c.state.not_in(["done", "failed"]))).scalar_one()
            with node.lock:
                last = node.milestones.get(node.latest_milestone)
                pending = any(t != last and t not in node.confirmed for t in node.graph.tipset)
            if not running and not pending:
                return
            time.sleep(0.02)

    def digest():
        quiet()
        if services.index_on_read:  # the catalog catches up with the chain on read: a cache, not state
            services.auctions()
        files = tuple(sorted((p.relative_to(keystores).as_posix(), p.stat().st_size, p.stat().st_mtime_ns)
                             for p in keystores.rglob("*") if p.is_file())) if keystores.exists() else ()
        return (eth_tester_state(chain), tangle_db.execute("PRAGMA data_version").fetchone()[0],
                node.count, node.latest_milestone, files, web_state())

    def web_state() -> str:
        """The catalog and the app's tables in it (sessions without their last-seen time, which
        every request of a session moves; nonces, plans, jobs), hashed."""
        with state_db.connect() as c:
            rows = [tuple(c.execute(q)) for q in (
                sa.text("SELECT * FROM indexer_status"), sa.text("SELECT count(*), sum(last_block) FROM devices"),
                sa.select(SESSIONS.c.sid_hash, SESSIONS.c.username, SESSIONS.c.address, SESSIONS.c.created)
                .order_by(SESSIONS.c.sid_hash),
                sa.select(sa.func.count()).select_from(NONCES),
                sa.select(PLANS.c.id, PLANS.c.placed, PLANS.c.job_id).order_by(PLANS.c.id),
                sa.select(JOBS.c.id, JOBS.c.state, JOBS.c.done_batches).order_by(JOBS.c.id),
                sa.select(WALLET_RUNS.c.job_id, WALLET_RUNS.c.next_batch, WALLET_RUNS.c.waiting)
                .order_by(WALLET_RUNS.c.job_id))]
        return hashlib.sha256(repr(rows).encode()).hexdigest()

    try:
        yield Target("web", "127.0.0.1", srv.server_port, routes, digest,
                     max_body=app.config["MAX_CONTENT_LENGTH"], reason=_reason, reason_sees_request=True,
                     refused=_refused, accepted=_accepted)
    finally:
        srv.shutdown()
        srv.server_close()
        tangle_db.close()
        tangle.stop()
        chain.close()
