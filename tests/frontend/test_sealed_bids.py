"""Sealed-bid auctions through the app: commit in batches, secrets kept encrypted, reveal, settle."""

from __future__ import annotations

import re

import pytest

from tests.frontend.fe_helpers import create_user, csrf_of
from tests.frontend.test_bids_and_isolation import place, plan, plan_id, wait_job


def test_sealed_bids_are_committed_revealed_and_won(sealed_world_m, sealed_app):
    alice, bob = sealed_app.test_client(), sealed_app.test_client()
    assert create_user(alice, "alice").status_code == 302 and create_user(bob, "bob").status_code == 302
    pa = plan_id(plan(alice, max_price="0.003", budget="1").get_data(as_text=True))
    pb = plan_id(plan(bob, max_price="0.002", budget="1").get_data(as_text=True))
    ja = wait_job(alice, place(alice, pa).headers["Location"])
    jb = wait_job(bob, place(bob, pb).headers["Location"])
    assert ja["placed"] == 4 and jb["placed"] == 4
    assert "sealed bid committed" in alice.get(f"/bids/job/{ja['id']}").get_data(as_text=True)
    # The secrets are on disk, encrypted: no amount or salt in clear.
    store = next((sealed_app.extensions["thingbid.services"].keystore_dir / "sealed").glob("*.sealed"))
    assert b"amount" not in store.read_bytes() and b"salt" not in store.read_bytes()

    sealed_world_m.chain.time_travel(3700)  # bidding over, reveal window open
    for c in (alice, bob):
        page = c.get("/auctions/").get_data(as_text=True)
        assert "Reveal 4 sealed bid(s)" in page
        ids = re.findall(r'data-auction="(\d+)"', page)
        r = c.post("/auctions/reveal", data={"csrf_token": csrf_of(c, "/auctions/"), "auction_id": ids})
        assert r.status_code == 302, r.get_data(as_text=True)
    # Bob cannot reveal again (nor anything of Alice's).
    r = bob.post("/auctions/reveal", data={"csrf_token": csrf_of(bob, "/auctions/"), "auction_id": ids})
    assert r.status_code == 404

    sealed_world_m.chain.time_travel(3700)  # reveal window over
    page = alice.get("/auctions/").get_data(as_text=True)
    r = alice.post("/auctions/settle", data={"csrf_token": csrf_of(alice, "/auctions/"),
                                             "auction_id": re.findall(r'data-auction="(\d+)"', page)})
    assert r.status_code == 302, r.get_data(as_text=True)
    page = alice.get("/auctions/").get_data(as_text=True)
    assert page.count("<strong>you</strong>") == 4  # Alice's higher sealed bids win
    assert page.count("awaiting_key") == 4
    bob_page = bob.get("/auctions/").get_data(as_text=True)
    assert "<strong>you</strong>" not in bob_page


def standings(client) -> list[str]:
    page = client.get("/bids/").get_data(as_text=True)
    rows = re.findall(r"<tr><td>#\d+</td>.*?</tr>", page, re.S)
    return [re.findall(r"<td>(.*?)</td>", r, re.S)[-1] for r in rows]


def test_sealed_bids_show_their_reveal_state_never_outbid_or_winning_before_settlement(sealed_world_m, sealed_app):
    alice, bob = sealed_app.test_client(), sealed_app.test_client()
    assert create_user(alice, "alice").status_code == 302 and create_user(bob, "bob").status_code == 302
    for c, price in ((alice, "0.003"), (bob, "0.002")):
        wait_job(c, place(c, plan_id(plan(c, max_price=price, budget="1").get_data(as_text=True))).headers["Location"])
    assert standings(alice) == standings(bob) == ["sealed (not yet revealed)"] * 4

    sealed_world_m.chain.time_travel(3700)  # reveal window: only Alice reveals
    ids = re.findall(r'data-auction="(\d+)"', alice.get("/auctions/").get_data(as_text=True))
    assert alice.post("/auctions/reveal", data={"csrf_token": csrf_of(alice, "/auctions/"),
                                                "auction_id": ids}).status_code == 302
    assert standings(alice) == ["sealed (revealed)"] * 4
    assert standings(bob) == ["sealed (not yet revealed)"] * 4

    sealed_world_m.chain.time_travel(3700)
    page = alice.get("/auctions/").get_data(as_text=True)
    alice.post("/auctions/settle", data={"csrf_token": csrf_of(alice, "/auctions/"),
                                         "auction_id": re.findall(r'data-auction="(\d+)"', page)})
    assert standings(alice) == ["won"] * 4 and standings(bob) == ["lost"] * 4


def test_sealed_plan_commits_bucket_deposits_that_do_not_show_the_bid(sealed_world_m, sealed_app):
    """Issue 12 case 7: the app used to commit a deposit equal to the bid, and BidCommitted is
    public. Two users bidding 0.003 and 0.0042 ETH now both lock 0.005 ETH (the next 1-2-5 step)."""
    from exchange.chain.auction import AuctionHouseClient

    house = AuctionHouseClient.from_manifest(sealed_world_m.chain, sealed_world_m.manifest)
    alice, bob = sealed_app.test_client(), sealed_app.test_client()
    assert create_user(alice, "alice").status_code == 302 and create_user(bob, "bob").status_code == 302
    pages = {}
    for c, price in ((alice, "0.003"), (bob, "0.0042")):
        pages[price] = plan(c, max_price=price, budget="1").get_data(as_text=True)
        assert wait_job(c, place(c, plan_id(pages[price])).headers["Location"])["placed"] == 4
    assert re.search(r'id="plan-total">0\.02 ETH', pages["0.003"])  # 4 deposits of 0.005 locked
    assert "0.005 ETH" in pages["0.0042"]
    deposits = [e.args["deposit"] for e in house.events(names={"BidCommitted"})]
    assert deposits == [5 * 10**15] * 8


@pytest.mark.parametrize("sealed,words", [
    (None, "must list a commitment and an amount box for each of the 4 sealed bids"),
    ("short", "must list a commitment and an amount box for each of the 4 sealed bids"),
    ("zero", "a commitment is 32 nonzero bytes"),
    ("stranger", "is not a sealed bid of this plan"),
    ("twice", "is listed twice"),
    ("nothex", "must be hex"),
])
def test_a_wallet_plan_of_sealed_bids_needs_a_commitment_and_box_for_each(sealed_world_m, sealed_app, sealed, words):
    """A wallet session's sealed bids are committed with the browser's commitments: a start body that lacks or
    bends one is refused with the reason, keeps no box, and leaves the plan to be placed."""
    from tests.frontend.siwe_helpers import wallet_sign_in

    c = sealed_app.test_client()
    token = wallet_sign_in(c)
    r = c.post("/bids/plan", data={"csrf_token": token, "max_price": "0.002", "budget": "1"})
    pid = r.headers["Location"].rsplit("/", 1)[1]
    pub = "ab" * 32
    est = c.get(f"/wallet-tx/plan/{pid}/estimate.json?x25519_public={pub}").get_json()
    assert len(est["sealed_bids"]) == 4 and est["house"] and est["chain_id"]
    single = {"commitment": "11" * 32, "box": "22" * 60}
    good = [{"auction_id": b["auction_id"], **single} for b in est["sealed_bids"]]
    body = {"short": good[:3], "zero": [{**good[0], "commitment": "00" * 32}, *good[1:]],
            "stranger": [{**good[0], "auction_id": 10**6}, *good[1:]], "twice": [good[0], good[0], *good[2:]],
            "nothex": [{**good[0], "box": "zz" * 60}, *good[1:]]}.get(sealed)
    services = sealed_app.extensions["thingbid.services"]
    r = c.post(f"/wallet-tx/plan/{pid}/start", json={"x25519_public": pub, "sealed": body},
               headers={"X-CSRF-Token": token})
    assert r.status_code == 400 and words in r.get_json()["error"], r.get_json()
    assert not (services.keystore_dir / "wallet-sealed").exists()
    assert c.get(f"/wallet-tx/plan/{pid}/estimate.json?x25519_public={pub}").status_code == 200  # still placeable


def _deadlines(page: str) -> list[str]:
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", d)).strip()
            for d in re.findall(r'<td class="deadline">(.*?)</td>', page, re.S)]


def test_auctions_show_a_countdown_and_the_reveal_deadline_in_chain_time(sealed_world_m, sealed_app):
    """Issue 17: auctions showed neither how long bidding has left nor until when a sealed bid
    can be revealed; the countdown is from the chain's time (which tests and demos move)."""
    alice = sealed_app.test_client()
    assert create_user(alice, "alice").status_code == 302
    pa = plan_id(plan(alice, max_price="0.003", budget="1").get_data(as_text=True))
    assert wait_job(alice, place(alice, pa).headers["Location"])["placed"] == 4
    page = alice.get("/auctions/").get_data(as_text=True)
    rows = _deadlines(page)
    assert len(rows) == 4
    assert all(re.fullmatch(r"bidding ends \S+ \S+ UTC \(in (\d\d? min \d\d s|1 h 00 min)\); reveal by \S+ \S+ UTC", d) for d in rows), rows
    left = [int(x) for x in re.findall(r'<time class="countdown" datetime="[^"]+Z" data-left="(\d+)"', page)]
    assert len(left) == 4 and all(3000 < x <= 3600 for x in left)

    sealed_world_m.chain.time_travel(3700)  # bidding over: the reveal window's own countdown
    rows = _deadlines(alice.get("/auctions/").get_data(as_text=True))
    assert all(re.fullmatch(r"bidding ended; reveal by \S+ \S+ UTC \(in \d\d? min \d\d s\)", d) for d in rows), rows
    sealed_world_m.chain.time_travel(3700)
    rows = _deadlines(alice.get("/auctions/").get_data(as_text=True))
    assert all(re.fullmatch(r"reveal ended \S+ \S+ UTC: settle", d) for d in rows), rows


def test_the_device_page_counts_down_to_the_end_of_bidding_and_names_the_reveal_deadline(sealed_world_m, sealed_app):
    alice = sealed_app.test_client()
    assert create_user(alice, "alice").status_code == 302
    d = sealed_world_m.devices[0]
    page = alice.get(f"/catalog/device/0x{d.device_id.hex()}").get_data(as_text=True)
    box = re.sub(r"<[^>]+>", "", re.search(r'<form [^>]*id="device-bid-form".*?</form>', page, re.S).group(0))
    assert re.search(r"bidding ends \S+ \S+ UTC \(in \d+ min \d\d s\); reveal your bid by \S+ \S+ UTC", box), box
