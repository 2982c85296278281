"""Two workers of the web app (two apps, each with its own Services, over one chain and one database,
sharing the secret key as served workers do): requests alternate between them, and a user's session,
plan, job and pages work whichever worker answers."""

from __future__ import annotations

import re
import time

import pytest
from werkzeug.test import Client

from frontend import create_app
from frontend.services import Services
from tests.frontend.fe_helpers import create_user, csrf_of

SECRET = b"a secret both workers read (serve.py: state dir)" * 2


class Alternating:
    """A WSGI app handing each request to the next worker in turn; ``served`` says which answered."""

    def __init__(self, apps):
        self.apps, self.served = apps, []

    def __call__(self, environ, start_response):
        i = len(self.served) % len(self.apps)
        self.served.append(i)
        return self.apps[i](environ, start_response)


@pytest.fixture
def workers(auction_world_m, auction_world, tmp_path):
    w = auction_world_m

    def worker():
        services = Services(w.chain, w.manifest, w.database_url, "http://127.0.0.1:9", tmp_path / "keystores",
                            dev_faucet=True)
        return create_app({"THINGBID_SERVICES": services, "TESTING": True, "KEYSTORE_SCRYPT_N": 2**12,
                           "SECRET_KEY": SECRET, "BIND_HOST": "127.0.0.1"})

    return Alternating([worker(), worker()])


def test_a_user_signed_in_on_one_worker_is_signed_in_on_the_other(workers):
    c = Client(workers)
    assert create_user(c, "alice").status_code == 302
    whoami = [c.get("/account/whoami.json").get_json() for _ in range(4)]
    assert set(workers.served[-4:]) == {0, 1}
    assert all(w["signed_in"] for w in whoami) and len({w["address"] for w in whoami}) == 1


def test_a_sign_out_on_one_worker_signs_out_on_the_other(workers):
    c = Client(workers)
    assert create_user(c, "alice").status_code == 302
    c.post("/account/signout", data={"csrf_token": csrf_of(c, "/account/")})
    assert [c.get("/account/whoami.json").get_json()["signed_in"] for _ in range(2)] == [False, False]


def test_a_plan_made_on_one_worker_shows_and_places_once_on_the_other_and_its_job_is_polled_on_both(workers):
    c = Client(workers)
    assert create_user(c, "alice").status_code == 302
    r = c.post("/bids/plan", data={"csrf_token": csrf_of(c, "/catalog/"), "max_price": "0.002", "budget": "1"})
    assert r.status_code == 303
    url = r.headers["Location"]
    for _ in range(2):  # both workers show it
        page = c.get(url)
        assert page.status_code == 200 and re.search(r'id="plan-count">12<', page.get_data(as_text=True))
    pid = url.rsplit("/", 1)[1]
    r = c.post("/bids/place", data={"csrf_token": csrf_of(c, "/bids/"), "plan": pid, "top_up": "1"})
    assert r.status_code == 302 and "/bids/job/" in r.headers["Location"]
    job_url = r.headers["Location"]
    # Placing it again fails on either worker: the claim is one UPDATE in the shared database.
    for _ in range(2):
        assert c.post("/bids/place", data={"csrf_token": csrf_of(c, "/bids/"), "plan": pid}).status_code == 404
    polls = []
    end = time.time() + 60
    while time.time() < end:
        r = c.get(job_url + ".json")
        polls.append((workers.served[-1], r.status_code))
        assert r.status_code == 200, polls
        if r.get_json()["state"] in ("done", "failed"):
            break
        time.sleep(0.05)
    p = r.get_json()
    assert p["state"] == "done" and p["placed"] == 12, p
    assert {w for w, _ in polls} == {0, 1} or len(polls) == 1
    for _ in range(2):  # the job page, the plan page's link to it and the bids page on both workers
        assert c.get(job_url).get_data(as_text=True).count('<tr class="placed">') == 12
        assert job_url.rsplit("/", 1)[1] in c.get(url).get_data(as_text=True)
        bids = c.get("/bids/").get_data(as_text=True)
        assert bids.count("winning") >= 12


def test_another_user_sees_no_plan_or_job_of_alice_on_either_worker(workers):
    a, b = Client(workers), Client(workers)
    assert create_user(a, "alice").status_code == 302 and create_user(b, "bob").status_code == 302
    url = a.post("/bids/plan", data={"csrf_token": csrf_of(a, "/catalog/"), "max_price": "0.002",
                                     "budget": "1"}).headers["Location"]
    job_url = a.post("/bids/place", data={"csrf_token": csrf_of(a, "/bids/"), "plan": url.rsplit("/", 1)[1],
                                          "top_up": "1"}).headers["Location"]
    for _ in range(2):
        assert b.get(url).status_code == 404 and b.get(job_url + ".json").status_code == 404
