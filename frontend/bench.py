"""Plan and place bids on 1000 devices through the web app's own code path; wallet sign-in and bids in Chromium.

Run by ``thingbid bench ui`` as ``python -m frontend.bench`` (a child process, so ``exchange``
never imports ``frontend``).

A real anvil, the real contracts, 1000 checked-in devices with open auctions, the catalog
indexed; then, as a signed-in user of the Flask app (its test client: same views, forms,
CSRF, planning and background job as in the browser), the timer runs from POSTing the bid
form (plan) through "sign and place" until the job reports every batch done.

With Debian chromium present, two more rows come from a real browser and the development wallet
(``frontend.devwallet``: a test key signing in the page, the node calls relayed to the same anvil):
``signin`` (click "Sign in with your wallet" to the server's answer: nonce, EIP-4361 message, the
wallet's signature, the server's check; p50 over fresh browser contexts, no dev faucet) and ``browser_1000_bids`` (click "Sign and
place" to the job's outcome page: every batch prepared and estimated by the server, signed and sent
by the wallet, checked on chain by the server).
"""

from __future__ import annotations

from exchange.waiting import poll_until


def _csrf(client, path: str) -> str:
    import re

    return re.search(r'name="csrf-token" content="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def _one(n: int) -> dict:
    import re
    import tempfile
    import time
    from pathlib import Path

    from exchange.chain.anvil import start_anvil
    from exchange.chain.connect import rpc_chain
    from exchange.chain.deploy import deploy_all
    from frontend import create_app
    from frontend.devworld import World, check_in, index, make_devices, open_auctions_for, sqlite_url
    from frontend.services import Services

    with tempfile.TemporaryDirectory() as tmp, start_anvil(port=None, reuse=False) as proc:
        tmp = Path(tmp)
        chain = rpc_chain(proc.url, kind="anvil")
        t0 = time.perf_counter()
        manifest, _ = deploy_all(chain, tmp / "deployments")
        devices = make_devices(n, chain.accounts[1:4], seed=5, tags=("bench",))
        check_in(chain, manifest, devices)
        world = World(chain, manifest, sqlite_url(tmp), devices)
        open_auctions_for(world, devices, duration_s=3600)
        index(chain, manifest, world.database_url)
        setup_s = time.perf_counter() - t0
        app = create_app({"THINGBID_SERVICES": Services(chain, manifest, world.database_url, "http://127.0.0.1:9",
                                                        tmp / "keystores", dev_faucet=True)})
        c = app.test_client()
        r = c.post("/account/create", data={"csrf_token": _csrf(c, "/account/create"), "username": "bench",
                                            "password": "bench-password", "confirm": "bench-password"})
        assert r.status_code == 302, r.get_data(as_text=True)[:400]
        token = _csrf(c, "/catalog/")

        t0 = time.perf_counter()
        r = c.post("/bids/plan", data={"csrf_token": token, "f_q": "bench", "f_per_page": "200",
                                       "max_price": "0.01", "budget": "100"}, follow_redirects=True)
        html = r.get_data(as_text=True)
        plan_s = time.perf_counter() - t0
        pid = re.search(r'name="plan" value="([^"]+)"', html).group(1)
        r = c.post("/bids/place", data={"csrf_token": token, "plan": pid, "top_up": "1"})
        job = r.headers["Location"] + ".json"
        def finished() -> dict | None:
            progress = c.get(job).get_json()
            return progress if progress["state"] in ("done", "failed") else None

        p = poll_until(finished, timeout=600, interval=0.01, on_timeout=lambda: TimeoutError(f"bid job {job} did not finish"))
        total_s = time.perf_counter() - t0
        return {"bids": p["placed"], "skipped": p["skipped"], "failed": p["failed"], "batches": p["total_batches"],
                "plan_s": round(plan_s, 3), "place_s": round(total_s - plan_s, 3),
                "plan_and_place_s": round(total_s, 3), "setup_s": round(setup_s, 2), "error": p["error"]}


SIGNINS = 9


def _browser_rows(devices: int) -> list[dict]:
    import os
    import re
    import statistics
    import tempfile
    import threading
    import time
    from pathlib import Path

    from eth_account import Account
    from werkzeug.serving import make_server

    from exchange.chain.anvil import start_anvil
    from exchange.chain.connect import rpc_chain
    from exchange.chain.deploy import deploy_all
    from frontend import create_app, devwallet
    from frontend.devworld import World, check_in, index, make_devices, open_auctions_for, sqlite_url
    from frontend.services import Services

    if not os.path.exists(devwallet.CHROMIUM):
        why = f"Debian chromium not installed at {devwallet.CHROMIUM}"
        return [{"op": "signin", "skipped": why}, {"op": "browser_1000_bids", "skipped": why}]
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, start_anvil(port=None, reuse=False) as proc:
        tmp = Path(tmp)
        chain = rpc_chain(proc.url, kind="anvil")
        manifest, _ = deploy_all(chain, tmp / "deployments")
        devs = make_devices(devices, chain.accounts[1:4], seed=6, tags=("walletbench",))
        check_in(chain, manifest, devs)
        world = World(chain, manifest, sqlite_url(tmp), devs)
        open_auctions_for(world, devs, duration_s=3600)
        index(chain, manifest, world.database_url)
        # No dev faucet: a sign-in is then exactly what a public frontend does; the bidder is funded below.
        app = create_app({"THINGBID_SERVICES": Services(rpc_chain(proc.url), manifest, world.database_url,
                                                        "http://127.0.0.1:9", tmp / "keystores"),
                          "BIND_HOST": "127.0.0.1"})
        srv = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{srv.server_port}"
        pw = sync_playwright().start()
        browser = pw.chromium.launch(executable_path=devwallet.CHROMIUM, args=devwallet.LAUNCH_ARGS, headless=True)
        script = devwallet.bundle()
        try:
            signin_ms = []
            for i in range(SIGNINS + 1):  # the first warms the server and the browser: not counted
                ctx = browser.new_context()
                key = f"0x{0xbe7c0000 + i:064x}"
                devwallet.install(ctx, script, key, proc.url)
                page = ctx.new_page()
                page.set_default_timeout(60_000)
                page.goto(f"{url}/account/signin?next=/catalog/%3Fq%3Dwalletbench")
                t0 = time.perf_counter()
                with page.expect_response(lambda r: r.url.endswith("/siwe/verify")) as answer:
                    page.click("#wallet-signin")
                if not answer.value.ok:
                    raise RuntimeError(f"wallet sign-in refused: {answer.value.text()}")
                if i:
                    signin_ms.append((time.perf_counter() - t0) * 1000)
                page.wait_for_url(re.compile(r"/catalog/\?q=walletbench$"))
                if i < SIGNINS:
                    ctx.close()
            chain.send_value(Account.from_key(key).address, 100 * 10**18)  # the bidder's ether, from the node's first account
            page.fill("input[name=max_price]", "0.01")
            page.fill("input[name=budget]", "100")
            page.click("#plan-bids")
            page.wait_for_url(re.compile(r"/bids/plan/"))
            t0 = time.perf_counter()
            page.click("#wallet-prepare")  # key registration and the deposit
            page.locator("#wallet-sign-plan:enabled").wait_for()
            prepare_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            page.click("#wallet-sign-plan")
            page.wait_for_url(re.compile(r"/bids/job/"), timeout=300_000)
            wall_s = time.perf_counter() - t0
            summary = page.locator("#outcome-summary").inner_text()
            counts = dict((k, int(v)) for v, k in re.findall(r"(\d+) (placed|skipped|failed|transaction)", summary))
            ctx.close()
        finally:
            browser.close()
            pw.stop()
            srv.shutdown()
    return [{"op": "signin", "p50_ms": round(statistics.median(signin_ms), 1), "max_ms": round(max(signin_ms), 1),
             "signins": len(signin_ms), "goal_ms": 1000},
            {"op": "browser_1000_bids", "wall_s": round(wall_s, 3), "batches": counts.get("transaction", 0),
             "bids": counts.get("placed", 0), "skipped": counts.get("skipped", 0), "failed": counts.get("failed", 0),
             "devices": devices, "prepare_s": round(prepare_s, 3), "goal_s": 15, "goal_batches": 10}]


def web_rows(devices: int, auctions: int, mine: int, requests: int):
    """Catalog, auctions and bids pages at ``devices`` devices and ``auctions`` indexed auctions (SQLite)."""
    import random
    import re
    import tempfile
    import time
    from pathlib import Path

    from sqlalchemy import insert, select

    from exchange.bench import percentile
    from exchange.bench.catalog import fill
    from exchange.catalog.db import analyze, create_tables, make_engine
    from exchange.catalog.indexer import D, Indexer
    from exchange.catalog.models import Auction
    from exchange.chain.connect import embedded_chain
    from exchange.chain.deploy import deploy_all
    from frontend import create_app
    from frontend.devworld import World, check_in, make_devices, open_auctions_for
    from frontend.services import Services

    rng = random.Random(11)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        chain = embedded_chain()
        manifest, _ = deploy_all(chain, tmp / "deployments")
        url = f"sqlite:///{tmp / 'catalog.db'}"
        engine = make_engine(url)
        create_tables(engine)
        t0 = time.perf_counter()
        fill(engine, devices, rng)
        with engine.connect() as c:
            ids = list(c.execute(select(D.c.device_id).limit(auctions)).scalars())
        mech = manifest["contracts"]["EnglishAuction"]["address"].lower()
        # The user's auctions are real (checked in, opened and bid on through the chain and the app); the
        # other auctions are rows beside them (ids far above), as the indexer would have written them.
        real = make_devices(mine, chain.accounts[1:3], seed=12, tags=("webbench",))
        check_in(chain, manifest, real)
        open_auctions_for(World(chain, manifest, url, real), real, duration_s=3600)
        rows = [{"auction_id": 10**9 + i, "device_id": did, "seller": "0x" + "22" * 20, "mechanism": mech,
                 "reserve_wei": str(10**15), "increment_wei": str(10**14), "bidding_end": 2**40, "fee_bps": 250,
                 "delivery_window": 3600, "bond_bps": 10_000, "window": 0, "highest_wei": str(2 * 10**15),
                 "highest_gwei": 2 * 10**6, "leader": "0x" + "33" * 20, "status": "open", "closed": False,
                 "winner": None, "price_wei": "0", "sealed_key": None, "access_until": 0, "opened_block": 1,
                 "last_block": 1, "last_log_index": i} for i, did in enumerate(ids[:max(0, auctions - mine)])]
        with engine.begin() as c:
            for k in range(0, len(rows), 5000):
                c.execute(insert(Auction.__table__), rows[k:k + 5000])
        contracts = manifest["contracts"]
        indexer = Indexer(chain, contracts["DeviceRegistry"]["address"], engine=engine,
                          auction_house=contracts["AuctionHouse"]["address"])
        indexer.sync()
        services = Services(chain, manifest, url, "http://127.0.0.1:9", tmp / "keystores", dev_faucet=True,
                            index_on_read=False)
        app = create_app({"THINGBID_SERVICES": services, "KEYSTORE_SCRYPT_N": 2**12, "BIND_HOST": "127.0.0.1"})
        c = app.test_client()
        r = c.post("/account/create", data={"csrf_token": _csrf(c, "/account/create"), "username": "bench",
                                            "password": "bench-password", "confirm": "bench-password"})
        assert r.status_code == 302, r.get_data(as_text=True)[:400]
        r = c.post("/bids/plan", data={"csrf_token": _csrf(c, "/catalog/"), "f_q": "webbench", "max_price": "0.01",
                                       "budget": "10"})
        pid = re.search(r'name="plan" value="([^"]+)"', c.get(r.headers["Location"]).get_data(as_text=True)).group(1)
        r = c.post("/bids/place", data={"csrf_token": _csrf(c, "/bids/"), "plan": pid, "top_up": "1"})
        job = r.headers["Location"] + ".json"
        poll_until(lambda: c.get(job).get_json()["state"] in ("done", "failed"), timeout=300, interval=0.1,
                   on_timeout=lambda: RuntimeError("the bench user's bids did not finish"))
        assert c.get(job).get_json()["placed"] == mine, c.get(job).get_json()
        indexer.sync()
        rows_total = len(rows) + mine
        analyze(engine)
        setup_s = time.perf_counter() - t0
        pages = {"catalog_page": "/catalog/?q=kitchen", "catalog_filtered_page": "/catalog/?type=Refrigerator&page=3",
                 "auctions_page": "/auctions/", "bids_page": "/bids/"}
        out = []
        for op, path in pages.items():
            assert c.get(path).status_code == 200, path  # warm
            times = []
            for _ in range(requests):
                t = time.perf_counter()
                assert c.get(path).status_code == 200
                times.append((time.perf_counter() - t) * 1000)
            out.append({"op": op, "p50_ms": round(percentile(times, 50), 1), "p95_ms": round(percentile(times, 95), 1),
                        "requests": requests, "devices": devices, "auctions": rows_total, "mine": mine,
                        "goal_ms": 100, "setup_s": round(setup_s, 1)})
        chain.close()
    return out


def run(devices: int, repeat: int, browser: bool = True):
    import statistics

    rows = [_one(devices) for _ in range(max(1, repeat))]
    row = dict(rows[-1])
    for k in ("plan_s", "place_s", "plan_and_place_s"):
        row[k] = round(statistics.median(r[k] for r in rows), 3)
    row["devices"] = devices
    row["goal_s"] = 10
    yield {"bids": row.pop("bids"), "plan_and_place_s": row.pop("plan_and_place_s"), **row}
    if browser:
        yield from _browser_rows(devices)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    p = argparse.ArgumentParser(prog="python -m frontend.bench")
    p.add_argument("--devices", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--no-browser", action="store_true", help="skip the Chromium rows (signin, browser_1000_bids)")
    p.add_argument("--web", action="store_true", help="the page latency rows (thingbid bench web)")
    p.add_argument("--auctions", type=int, default=10_000)
    p.add_argument("--mine", type=int, default=20)
    p.add_argument("--requests", type=int, default=60)
    args = p.parse_args(argv)
    if args.web:
        for row in web_rows(args.devices, args.auctions, args.mine, args.requests):
            print(json.dumps(row), flush=True)
        return 0
    for row in run(args.devices, args.repeat, browser=not args.no_browser):
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
