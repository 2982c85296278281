"""Plan and place bids on 1000 devices through the web app's own code path.

Run by ``thingbid bench ui`` as ``python -m frontend.bench`` (a child process, so ``exchange``
never imports ``frontend``).

A real anvil, the real contracts, 1000 checked-in devices with open auctions, the catalog
indexed; then, as a signed-in user of the Flask app (its test client: same views, forms,
CSRF, planning and background job as in the browser), the timer runs from POSTing the bid
form (plan) through "sign and place" until the job reports every batch done.
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
    from frontend.auction_ops import open_auctions_for
    from frontend.devworld import World, check_in, index, make_devices, sqlite_url
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


def run(devices: int, repeat: int):
    import statistics

    rows = [_one(devices) for _ in range(max(1, repeat))]
    row = dict(rows[-1])
    for k in ("plan_s", "place_s", "plan_and_place_s"):
        row[k] = round(statistics.median(r[k] for r in rows), 3)
    row["devices"] = devices
    row["goal_s"] = 10
    yield {"bids": row.pop("bids"), "plan_and_place_s": row.pop("plan_and_place_s"), **row}


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    p = argparse.ArgumentParser(prog="python -m frontend.bench")
    p.add_argument("--devices", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=1)
    args = p.parse_args(argv)
    for row in run(args.devices, args.repeat):
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
