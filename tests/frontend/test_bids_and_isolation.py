"""Batch bidding through the app on a real chain; bad values; one user cannot see or act on another's."""

from __future__ import annotations

import re
import time

import pytest

from tests.frontend.fe_helpers import PASSWORD, create_user, csrf_of, deliver_key, error_messages, input_attrs


def signed_in(app, name):
    c = app.test_client()
    assert create_user(c, name).status_code == 302
    return c


def plan(client, max_price="0.002", budget="1", follow=True, **filters):
    """POST the bid form; by default follow the redirect to the plan's own page."""
    data = {"csrf_token": csrf_of(client, "/catalog/"), "max_price": max_price, "budget": budget}
    data.update({f"f_{k}": v for k, v in filters.items()})
    return client.post("/bids/plan", data=data, follow_redirects=follow)


def plan_id(html: str) -> str:
    return re.search(r'name="plan" value="([^"]+)"', html).group(1)


def place(client, pid, top_up=True):
    data = {"csrf_token": csrf_of(client, "/bids/"), "plan": pid}
    if top_up:
        data["top_up"] = "1"
    return client.post("/bids/place", data=data)


def wait_job(client, location, timeout=60):
    url = location + ".json"
    end = time.time() + timeout
    while time.time() < end:
        p = client.get(url).get_json()
        if p["state"] in ("done", "failed"):
            return p
        time.sleep(0.05)
    raise AssertionError("job did not finish")


def house_bids(app) -> dict[str, dict[int, int]]:
    """Bidder -> auction -> latest amount, from the house's BidPlaced events on chain (not the read model)."""
    from exchange.chain.auction import AuctionHouseClient

    services = app.extensions["thingbid.services"]
    out: dict[str, dict[int, int]] = {}
    for e in AuctionHouseClient.from_manifest(services.base_chain(), services.manifest).events(names={"BidPlaced"}):
        out.setdefault(str(e.args["bidder"]).lower(), {})[int(e.args["auctionId"])] = int(e.args["amount"])
    return out


def test_plan_is_shown_before_anything_is_signed(auction_world_m, auction_app):
    alice = signed_in(auction_app, "alice")
    r = plan(alice)
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert re.search(r'id="plan-count">12<', html)
    assert 'id="sign-and-place"' in html
    assert house_bids(auction_app) == {}  # nothing on chain yet


def test_the_plan_post_redirects_to_a_plan_page_that_shows_again_on_back_and_reload(auction_world_m, auction_app):
    alice, bob = signed_in(auction_app, "alice"), signed_in(auction_app, "bob")
    r = plan(alice, follow=False)
    assert r.status_code == 303 and re.fullmatch(r"/bids/plan/[\w-]+", r.headers["Location"])
    url = r.headers["Location"]
    for _ in range(2):  # first view, then Back / reload: the same plan, nothing placed
        page = alice.get(url)
        assert page.status_code == 200 and re.search(r'id="plan-count">12<', page.get_data(as_text=True))
    assert plan_id(page.get_data(as_text=True)) == url.rsplit("/", 1)[1]
    assert house_bids(auction_app) == {}
    assert bob.get(url).status_code == 404  # another user's plan does not exist for them
    assert alice.get("/bids/plan/nosuchplan").status_code == 404


def test_a_placed_plan_page_links_to_its_job_and_cannot_be_placed_again(auction_world_m, auction_app):
    alice = signed_in(auction_app, "alice")
    url = plan(alice, follow=False).headers["Location"]
    job = place(alice, url.rsplit("/", 1)[1])
    assert job.status_code == 302
    page = alice.get(url).get_data(as_text=True)
    assert 'id="plan-placed"' in page and f'href="{job.headers["Location"]}"' in page
    assert 'id="place-form"' not in page
    assert place(alice, url.rsplit("/", 1)[1]).status_code == 404
    wait_job(alice, job.headers["Location"])


def test_batches_are_placed_in_the_background_with_per_device_outcomes(auction_world_m, auction_app):
    alice = signed_in(auction_app, "alice")
    pid = plan_id(plan(alice).get_data(as_text=True))
    r = place(alice, pid)
    assert r.status_code == 302
    p = wait_job(alice, r.headers["Location"])
    assert p["state"] == "done" and p["placed"] == 12 and p["skipped"] == 0 and p["percent"] == 100
    page = alice.get(r.headers["Location"]).get_data(as_text=True)
    assert page.count('<tr class="placed">') == 12
    bids = house_bids(auction_app)
    assert len(next(iter(bids.values()))) == 12
    # Placing the same plan twice is impossible: it was consumed.
    assert place(alice, pid).status_code == 404


def test_outbid_devices_are_skipped_with_a_reason(auction_world_m, auction_app):
    alice, bob = signed_in(auction_app, "alice"), signed_in(auction_app, "bob")
    pa = plan_id(plan(alice, max_price="0.002").get_data(as_text=True))
    pb = plan_id(plan(bob, max_price="0.002").get_data(as_text=True))
    assert wait_job(alice, place(alice, pa).headers["Location"])["placed"] == 12
    # Bob's plan was made before Alice bid: on chain his equal-or-lower bids are skipped, with reasons.
    p = wait_job(bob, place(bob, pb).headers["Location"])
    assert p["state"] == "done" and p["skipped"] == 12 and p["placed"] == 0
    page = bob.get(f"/bids/job/{p['id']}").get_data(as_text=True)
    assert "below price" in page


@pytest.mark.parametrize("field,value,message", [
    ("max_price", "-1", "The price per device must be an amount in ETH like 0.01, not '-1'"),
    ("max_price", "abc", "The price per device must be an amount in ETH like 0.01, not 'abc'"),
    ("max_price", "", "The price per device is required"),
    ("max_price", "1e999", "The price per device must be an amount in ETH"),
    ("max_price", "99999999999", "The price per device is too large"),
    ("max_price", "0", "The price per device must be more than 0"),
    ("max_price", "0.0000000000000000001", "The price per device has more than 18 decimals"),
    ("budget", "-5", "The budget must be an amount in ETH"),
    ("budget", "", "The budget is required"),
    ("budget", "0.001", "The budget must be at least the price per device"),
    ("f_reserve_min", "-1", "Reserve from must be an amount in ETH"),
])
def test_bad_bid_values_give_a_message_and_change_nothing(auction_world_m, auction_app, field, value, message):
    alice = signed_in(auction_app, "alice")
    data = {"csrf_token": csrf_of(alice, "/catalog/"), "max_price": "0.002", "budget": "1", field: value}
    r = alice.post("/bids/plan", data=data)
    page = r.get_data(as_text=True)
    assert r.status_code == 400
    errors = error_messages(page)
    assert len(errors) == 1 and errors[0].startswith(message), errors
    if field in ("max_price", "budget"):  # the catalog again, the bid box with what was typed
        assert 'id="filters"' in page
        for name in ("max_price", "budget"):
            assert input_attrs(page, name, "bid-form")["value"] == data[name]
        assert input_attrs(page, field, "bid-form")["aria-invalid"] == "true"
    assert house_bids(auction_app) == {}
    assert auction_app.extensions["thingbid.plans"].count(alice.get("/account/whoami.json").get_json()["address"]) == 0


def test_a_refused_bid_form_keeps_the_catalog_filter(auction_world_m, auction_app):
    alice = signed_in(auction_app, "alice")
    city = auction_world_m.devices[0].city.lower()
    expected = alice.get(f"/catalog/?q={city}").get_data(as_text=True)
    r = plan(alice, max_price="abc", q=city)
    page = r.get_data(as_text=True)
    assert r.status_code == 400
    assert input_attrs(page, "q", "filters")["value"] == city
    assert input_attrs(page, "f_q", "bid-form")["value"] == city
    count = re.compile(r'id="result-count"><strong>(\d+)</strong>')
    assert count.search(page).group(1) == count.search(expected).group(1)


def test_bid_without_csrf_is_refused(auction_world_m, auction_app):
    alice = signed_in(auction_app, "alice")
    r = alice.post("/bids/plan", data={"max_price": "0.002", "budget": "1"})
    assert r.status_code == 400 and "CSRF" in r.get_data(as_text=True)


def test_users_cannot_see_or_use_each_others_plans_jobs_bids_and_keys(auction_world_m, auction_app):
    alice, bob = signed_in(auction_app, "alice"), signed_in(auction_app, "bob")
    html = plan(alice, q=auction_world_m.devices[0].city.lower()).get_data(as_text=True)
    pid = plan_id(html)
    assert place(bob, pid).status_code == 404  # Bob cannot place Alice's plan ...
    job = place(alice, pid)  # ... and it is still Alice's to place
    assert wait_job(alice, job.headers["Location"])["placed"] >= 1
    assert bob.get(job.headers["Location"]).status_code == 404
    assert bob.get(job.headers["Location"] + ".json").status_code == 404
    assert "No bids yet" in bob.get("/bids/").get_data(as_text=True)

    auction_world_m.chain.time_travel(3700)
    aid = int(re.search(r'data-auction="(\d+)"', alice.get("/auctions/").get_data(as_text=True)).group(1))
    # Bob cannot settle through Alice's page entry, nor reclaim her payment.
    r = bob.post("/auctions/settle", data={"csrf_token": csrf_of(bob, "/auctions/"), "auction_id": str(aid)})
    assert r.status_code == 404
    r = alice.post("/auctions/settle", data={"csrf_token": csrf_of(alice, "/auctions/"), "auction_id": str(aid)})
    assert r.status_code == 302
    device = next(d for d in auction_world_m.devices if d.auction_id == aid)
    deliver_key(auction_world_m, device, aid)
    assert f"/keys/{aid}" in alice.get("/keys/").get_data(as_text=True)
    assert "No keys yet" in bob.get("/keys/").get_data(as_text=True)
    assert bob.get(f"/keys/{aid}").status_code == 404
    assert bob.get(f"/keys/{aid}/data.json").status_code == 404
    assert bob.get(f"/keys/{aid}/key.txt").status_code == 404
    assert alice.get(f"/keys/{aid}/key.txt").get_data(as_text=True).startswith("tb1.")
    r = bob.post("/auctions/reclaim", data={"csrf_token": csrf_of(bob, "/auctions/"), "auction_id": str(aid)})
    assert r.status_code == 400 and "refused by the auction house" in r.get_data(as_text=True)
    assert f"/keys/{aid}" in alice.get("/keys/").get_data(as_text=True)  # nothing changed for Alice


def test_signed_out_user_key_is_gone_and_sign_in_restores_access(auction_world_m, auction_app):
    alice = signed_in(auction_app, "alice")
    vault = auction_app.extensions["thingbid.vault"]
    n = len(vault)
    alice.post("/account/signout", data={"csrf_token": csrf_of(alice)})
    assert len(vault) == n - 1
    assert alice.get("/bids/").status_code == 302
    r = alice.post("/account/signin", data={"csrf_token": csrf_of(alice), "username": "alice", "password": PASSWORD})
    assert r.status_code == 302 and alice.get("/bids/").status_code == 200


@pytest.mark.parametrize("amount,message", [
    ("-1", "amount"), ("abc", "amount"), ("", "required"), ("1e5", "amount"), ("100000000000", "too large"),
    ("0", "more than 0"), ("5000", "more than your Ether balance"),
])
def test_bad_deposit_values_give_a_message_and_change_nothing(auction_world_m, auction_app, amount, message):
    from frontend.auction_reads import balance_of

    alice = signed_in(auction_app, "alice")
    addr = alice.get("/account/whoami.json").get_json()["address"]
    r = alice.post("/wallet/deposit", data={"csrf_token": csrf_of(alice, "/wallet/"), "amount": amount})
    assert r.status_code == 400 and message in r.get_data(as_text=True)
    assert balance_of(auction_app.extensions["thingbid.services"], addr) == (0, 0)


def test_deposit_and_withdraw(auction_world_m, auction_app):
    from frontend.auction_reads import balance_of

    alice = signed_in(auction_app, "alice")
    addr = alice.get("/account/whoami.json").get_json()["address"]
    services = auction_app.extensions["thingbid.services"]
    assert alice.post("/wallet/deposit", data={"csrf_token": csrf_of(alice, "/wallet/"), "amount": "1.5"}).status_code == 302
    assert balance_of(services, addr) == (15 * 10**17, 0)
    r = alice.post("/wallet/withdraw", data={"csrf_token": csrf_of(alice, "/wallet/"), "amount": "2"})
    assert r.status_code == 400 and "free deposit" in r.get_data(as_text=True)
    assert alice.post("/wallet/withdraw", data={"csrf_token": csrf_of(alice, "/wallet/"), "amount": "0.5"}).status_code == 302
    assert balance_of(services, addr) == (10**18, 0)


def _bid_on_a_city(world, client):
    pid = plan_id(plan(client, q=world.devices[0].city.lower()).get_data(as_text=True))
    assert wait_job(client, place(client, pid).headers["Location"])["placed"] >= 1


def test_reclaim_after_a_missed_delivery_and_rating_after_access(auction_world_m, auction_app):
    from frontend.auction_reads import balance_of

    alice = signed_in(auction_app, "alice")
    addr = alice.get("/account/whoami.json").get_json()["address"]
    services = auction_app.extensions["thingbid.services"]
    _bid_on_a_city(auction_world_m, alice)
    auction_world_m.chain.time_travel(3700)
    page = alice.get("/auctions/").get_data(as_text=True)
    ids = [int(i) for i in re.findall(r'data-auction="(\d+)"', page)]
    assert len(ids) >= 2
    tok = csrf_of(alice, "/auctions/")
    assert alice.post("/auctions/settle", data={"csrf_token": tok, "auction_id": [str(i) for i in ids]}).status_code == 302
    # One device delivers; the other misses its window and Alice reclaims.
    delivered, missed = ids[0], ids[1]
    dev = next(d for d in auction_world_m.devices if d.auction_id == delivered)
    deliver_key(auction_world_m, dev, delivered)
    auction_world_m.chain.time_travel(3700)  # past the 1-hour delivery window
    page = alice.get("/auctions/").get_data(as_text=True)
    assert "Reclaim payment" in page and "Rate" in page
    free_before = balance_of(services, addr)[0]
    r = alice.post("/auctions/reclaim", data={"csrf_token": tok, "auction_id": str(missed)})
    assert r.status_code == 302
    assert balance_of(services, addr)[0] > free_before
    r = alice.post("/auctions/rate", data={"csrf_token": tok, "auction_id": str(delivered), "score": "4"})
    assert r.status_code == 302
    page = alice.get("/auctions/").get_data(as_text=True)
    assert re.search(rf'data-auction="{missed}">.*?reclaimed', page, re.S)
    assert re.search(rf'data-auction="{delivered}">.*?rated', page, re.S)


@pytest.mark.parametrize("score", ["0", "6", "-1", "x", ""])
def test_bad_rating_values_are_refused(auction_world_m, auction_app, score):
    alice = signed_in(auction_app, "alice")
    r = alice.post("/auctions/rate", data={"csrf_token": csrf_of(alice, "/auctions/"), "auction_id": "1",
                                           "score": score})
    assert r.status_code == 400 and "The rating " in r.get_data(as_text=True)


# ---- one device, from its own page ---------------------------------------------------------------
def device_url(device) -> str:
    return f"/catalog/device/0x{device.device_id.hex()}"


def plan_one(client, device, max_price="0.002", budget="", follow=True, **extra):
    """POST the device page's bid box (the device travels as the plan's device-id filter)."""
    data = {"csrf_token": csrf_of(client, device_url(device)), "f_device_id": f"0x{device.device_id.hex()}",
            "max_price": max_price, "budget": budget, **extra}
    return client.post("/bids/plan", data=data, follow_redirects=follow)


def planned_devices(html: str) -> list[str]:
    table = re.search(r'<details id="plan-bids">(.*?)</details>', html, re.S).group(1)
    return re.findall(r'href="/catalog/device/(0x[0-9a-f]{64})"', table)


def test_the_device_page_offers_a_bid_box_for_its_open_auction(auction_world_m, auction_app):
    device = auction_world_m.devices[3]
    alice = signed_in(auction_app, "alice")
    page = alice.get(device_url(device)).get_data(as_text=True)
    assert input_attrs(page, "f_device_id", "device-bid-form")["value"] == f"0x{device.device_id.hex()}"
    assert input_attrs(page, "max_price", "device-bid-form") is not None
    assert f"Auction #{device.auction_id} " in page and 'id="no-bid"' not in page
    # Signed out: no form, a sign-in link instead.
    anon = auction_app.test_client().get(device_url(device)).get_data(as_text=True)
    assert 'id="device-bid-form"' not in anon and "to bid on this device" in anon


def test_a_plan_from_the_device_page_covers_exactly_that_device(auction_world_m, auction_app):
    device = auction_world_m.devices[3]
    alice = signed_in(auction_app, "alice")
    r = plan_one(alice, device, follow=False)
    assert r.status_code == 303 and re.fullmatch(r"/bids/plan/[\w-]+", r.headers["Location"])
    html = alice.get(r.headers["Location"]).get_data(as_text=True)
    assert re.search(r'id="plan-count">1<', html) and re.search(r"<dt>Matching devices</dt><dd>1<", html)
    assert planned_devices(html) == [f"0x{device.device_id.hex()}"]
    assert f"<td>#{device.auction_id}</td>" in html
    assert re.search(rf'href="{device_url(device)}" id="back">« back to the device<', html)
    assert house_bids(auction_app) == {}  # nothing signed yet
    p = wait_job(alice, place(alice, plan_id(html)).headers["Location"])
    assert p["state"] == "done" and p["placed"] == 1
    assert [set(b) for b in house_bids(auction_app).values()] == [{device.auction_id}]
    # Now Alice leads: her page says so instead of offering a bid against herself.
    page = alice.get(device_url(device)).get_data(as_text=True)
    assert 'id="device-bid-form"' not in page and "No bid possible: you already lead." in page


def test_the_budget_of_a_single_device_bid_defaults_to_its_price(auction_world_m, auction_app):
    alice = signed_in(auction_app, "alice")
    html = plan_one(alice, auction_world_m.devices[0], max_price="0.002", budget="").get_data(as_text=True)
    assert re.search(r"<dt>Budget</dt><dd>0.002 ETH<", html)


@pytest.mark.parametrize("field,value,message", [
    ("max_price", "-1", "The price per device must be an amount in ETH like 0.01, not '-1'"),
    ("max_price", "", "The price per device is required"),
    ("max_price", "0", "The price per device must be more than 0"),
    ("max_price", "1e999", "The price per device must be an amount in ETH"),
    ("budget", "abc", "The budget must be an amount in ETH like 0.01, not 'abc'"),
    ("budget", "0.001", "The budget must be at least the price per device"),
])
def test_bad_device_bid_values_show_the_device_page_again_and_change_nothing(auction_world_m, auction_app, field,
                                                                             value, message):
    device = auction_world_m.devices[2]
    alice = signed_in(auction_app, "alice")
    typed = {"max_price": "0.002", "budget": "", field: value}
    r = plan_one(alice, device, **typed)
    page = r.get_data(as_text=True)
    assert r.status_code == 400
    errors = error_messages(page)
    assert len(errors) == 1 and errors[0].startswith(message), errors
    assert 'id="device-title"' in page and 'id="filters"' not in page  # its own page, not the catalog
    for name in ("max_price", "budget"):
        assert input_attrs(page, name, "device-bid-form")["value"] == typed[name]
    assert input_attrs(page, field, "device-bid-form")["aria-invalid"] == "true"
    assert house_bids(auction_app) == {}
    assert auction_app.extensions["thingbid.plans"].count(alice.get("/account/whoami.json").get_json()["address"]) == 0


@pytest.mark.parametrize("device_id", ["0x12", "0x" + "zz" * 32, "' OR 1=1 --", "0x" + "ab" * 32 + "00"])
def test_a_bad_device_id_in_a_bid_is_refused_and_changes_nothing(auction_world_m, auction_app, device_id):
    alice = signed_in(auction_app, "alice")
    r = alice.post("/bids/plan", data={"csrf_token": csrf_of(alice, "/catalog/"), "f_device_id": device_id,
                                       "max_price": "0.002", "budget": "1"})
    assert r.status_code == 400
    assert error_messages(r.get_data(as_text=True)) == ["The device id must be 0x followed by 64 hex digits"]
    assert house_bids(auction_app) == {}
    assert auction_app.extensions["thingbid.plans"].count(alice.get("/account/whoami.json").get_json()["address"]) == 0


def test_a_device_id_no_device_has_plans_nothing(auction_world_m, auction_app):
    alice = signed_in(auction_app, "alice")
    data = {"csrf_token": csrf_of(alice, "/catalog/"), "f_device_id": "0x" + "ab" * 32, "max_price": "0.002",
            "budget": "1"}
    html = alice.post("/bids/plan", data=data, follow_redirects=True).get_data(as_text=True)
    assert re.search(r'id="plan-count">0<', html) and 'id="place-form"' not in html


def test_another_users_single_device_plan_stays_404(auction_world_m, auction_app):
    alice, bob = signed_in(auction_app, "alice"), signed_in(auction_app, "bob")
    url = plan_one(alice, auction_world_m.devices[1], follow=False).headers["Location"]
    assert bob.get(url).status_code == 404
    assert place(bob, url.rsplit("/", 1)[1]).status_code == 404
    assert house_bids(auction_app) == {}
    assert alice.get(url).status_code == 200 and 'id="place-form"' in alice.get(url).get_data(as_text=True)


def test_a_device_without_an_open_auction_says_so_instead_of_a_bid_box(world_m, world_app):
    client = world_app.test_client()
    assert create_user(client, "alice").status_code == 302
    page = client.get(device_url(world_m.devices[4])).get_data(as_text=True)
    assert 'id="device-bid-form"' not in page and "No bid possible: it has no open auction." in page


def test_a_checked_out_device_says_so_even_with_an_open_auction(auction_world_m, auction_app, tmp_path):
    import shutil

    from exchange.chain.registry import RegistryClient
    from frontend import create_app
    from frontend.devworld import index, sqlite_url
    from frontend.services import Services

    w, device = auction_world_m, auction_world_m.devices[5]
    # A copy of the module's catalog: the check-out is indexed there only (the chain reverts after the test).
    shutil.copy(w.database_url.removeprefix("sqlite:///"), tmp_path / "catalog.db")
    url = sqlite_url(tmp_path)
    RegistryClient.from_manifest(w.chain, w.manifest).check_out(device.device_id, sender=device.owner)
    index(w.chain, w.manifest, url)
    app = create_app({"THINGBID_SERVICES": Services(w.chain, w.manifest, url, "http://127.0.0.1:9",
                                                    tmp_path / "keystores", dev_faucet=True),
                      "TESTING": True, "KEYSTORE_SCRYPT_N": 2**12})
    alice = signed_in(app, "alice")
    page = alice.get(device_url(device)).get_data(as_text=True)
    assert "checked out" in page and "No bid possible: it is checked out." in page
    assert 'id="device-bid-form"' not in page
    # A hand-made plan for it finds nothing to bid on (the filter is for active devices).
    html = plan_one(alice, device, budget="1").get_data(as_text=True)
    assert re.search(r'id="plan-count">0<', html)


def test_every_bid_box_shows_the_fee_delivery_window_and_bond_fixed_at_opening(auction_world_m, auction_app):
    """Issue 12 case 8: terms beside the device's bid box and on the plan, per auction."""
    device = auction_world_m.devices[3]
    alice = signed_in(auction_app, "alice")
    page = alice.get(device_url(device)).get_data(as_text=True)
    terms = re.search(r'<span class="terms" id="bid-terms">(.*?)</span>', page, re.S).group(1)
    # The world's auctions: fee 0 (the deployment's), key due within 1 h, full escrow.
    assert '<strong class="fee">0%</strong>' in terms
    assert '<strong class="delivery">within 1 h</strong>' in terms
    assert '<strong class="bond">100%</strong>' in terms
    html = plan(alice).get_data(as_text=True)
    assert re.search(r'id="plan-terms">fee 0%, key due within 1 h of settlement, bond 100%', html)
    table = re.search(r'<details id="plan-bids">(.*?)</details>', html, re.S).group(1)
    assert table.count('<td class="delivery">1 h</td>') == 12
    search = alice.get("/catalog/").get_data(as_text=True)
    assert "delivery window (at most 7 days)" in search
