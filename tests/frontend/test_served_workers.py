"""One user's whole journey against the served app: ``python -m frontend.serve --workers 2`` (gunicorn, two
worker processes) on anvil, with the catalog indexer service following the chain. Sign in, plan, place
bids, watch the job, settle, see the auctions and key pages; gunicorn's access log shows that both
worker processes answered (no request is pinned to the worker that signed the user in or runs the job)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from exchange.config import REPO_ROOT
from exchange.waiting import poll_until
from tests.frontend.fe_helpers import PASSWORD, deliver_key

pytestmark = [pytest.mark.anvil, pytest.mark.slow]
DEVICES = 6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def csrf(session: requests.Session, url: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', session.get(url).text).group(1)


def until(what: str, fn, timeout: float = 60.0):
    return poll_until(fn, timeout=timeout, interval=0.2, on_timeout=lambda: AssertionError(f"timed out waiting for {what}"))


@pytest.fixture
def served(anvil_process, tmp_path):
    from exchange.chain.connect import rpc_chain
    from exchange.chain.deploy import deploy_all
    from exchange.system.indexer import follow
    from frontend.devworld import World, check_in, make_devices, open_auctions_for, sqlite_url

    chain = rpc_chain(anvil_process.url, kind="anvil")
    snap = chain.w3.provider.make_request("evm_snapshot", [])["result"]
    stop = threading.Event()
    proc = None
    try:
        ddir = tmp_path / "deployments"
        manifest, _ = deploy_all(chain, ddir, fresh=True)
        devices = make_devices(DEVICES, chain.accounts[1:3], seed=31, tags=("twoworkers",))
        check_in(chain, manifest, devices)
        world = World(chain, manifest, sqlite_url(tmp_path), devices)
        open_auctions_for(world, devices, duration_s=600)
        indexer = threading.Thread(target=follow, args=(anvil_process.url, ddir, world.database_url, 0.2),
                                   kwargs={"stop": stop}, daemon=True)
        indexer.start()
        port, log = free_port(), tmp_path / "access.log"
        env = {**os.environ, "THINGBID_RPC_URL": anvil_process.url, "THINGBID_DEPLOYMENTS_DIR": str(ddir),
               "THINGBID_DATABASE_URL": world.database_url, "THINGBID_STATE_DIR": str(tmp_path / "state"),
               "THINGBID_TANGLE_URL": "http://127.0.0.1:9"}
        proc = subprocess.Popen([sys.executable, "-m", "frontend.serve", "--port", str(port), "--workers", "2",
                                 "--dev-faucet", "--access-log", str(log)], cwd=REPO_ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        url = f"http://127.0.0.1:{port}"

        def up():
            try:
                return requests.get(url + "/catalog/", timeout=10).status_code == 200
            except requests.RequestException:
                return proc.poll() is not None  # ended: the assertion below says so
        until("the served app", up, 60)
        assert proc.poll() is None, proc.stdout.read()
        yield type("Served", (), {"url": url, "world": world, "chain": chain, "log": log, "proc": proc})
    finally:
        stop.set()
        if proc is not None:
            proc.terminate()
            proc.wait(20)
        chain.w3.provider.make_request("evm_revert", [snap])


def test_a_whole_journey_across_two_served_workers(served):
    url, world, chain = served.url, served.world, served.chain
    s = requests.Session()
    s.headers["Connection"] = "close"  # a new connection per request: whichever worker accepts it answers
    r = s.post(url + "/account/create", data={"csrf_token": csrf(s, url + "/account/create"), "username": "ada",
                                              "password": PASSWORD, "confirm": PASSWORD, "mode": "new"},
               allow_redirects=False)
    assert r.status_code == 302, r.text[:500]
    for _ in range(6):  # the session holds on whichever worker answers
        assert s.get(url + "/account/whoami.json").json()["signed_in"]
    r = s.post(url + "/bids/plan", data={"csrf_token": csrf(s, url + "/catalog/"), "f_q": "twoworkers",
                                         "max_price": "0.002", "budget": "1"}, allow_redirects=False)
    assert r.status_code == 303, r.text[:500]
    plan_url = url + r.headers["Location"]
    page = s.get(plan_url).text
    assert re.search(rf'id="plan-count">{DEVICES}<', page), page[:2000]
    pid = plan_url.rsplit("/", 1)[1]
    r = s.post(url + "/bids/place", data={"csrf_token": csrf(s, url + "/bids/"), "plan": pid, "top_up": "1"},
               allow_redirects=False)
    assert r.status_code == 302
    job_url = url + r.headers["Location"]
    progress = until("the job", lambda: (p := s.get(job_url + ".json").json())["state"] in ("done", "failed") and p,
                     120)
    assert progress["state"] == "done" and progress["placed"] == DEVICES, progress
    assert s.get(job_url).text.count('<tr class="placed">') == DEVICES
    # The auctions page reads the indexer's tables: every bid shows, on both workers.
    until("the bids in the auctions page", lambda: all(s.get(url + "/auctions/").text.count("<tr data-auction=")
                                                       == DEVICES for _ in range(2)))
    chain.time_travel(601)
    page = s.get(url + "/auctions/").text
    ids = re.findall(r'name="auction_id" value="(\d+)"', page.split('id="settle-form"')[1].split("</form>")[0])
    assert len(ids) == DEVICES
    r = s.post(url + "/auctions/settle", data={"csrf_token": csrf(s, url + "/auctions/"), "auction_id": ids},
               allow_redirects=False)
    assert r.status_code == 302
    device = world.devices[0]
    token = deliver_key(world, device, device.auction_id)
    until("the delivered key on the keys page", lambda: f"<td>#{device.auction_id}</td>" in s.get(url + "/keys/").text)
    for _ in range(2):  # opened on either worker with the key-delivery key from the sealed session row
        assert f'id="token">{token[:24]}…<' in s.get(f"{url}/keys/{device.auction_id}").text
        assert s.get(f"{url}/keys/{device.auction_id}/key.txt").text.strip() == token
    served_by = {line.split()[0] for line in Path(served.log).read_text().splitlines() if line.strip()}
    assert len(served_by) == 2, served_by  # both worker processes answered this one user
