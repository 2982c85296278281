"""Wallet transactions (issue 18): the server plans, batches and estimates; a real key outside it signs and sends.

The test is the wallet: it signs each prepared transaction with eth_account and sends it raw to the
chain, then reports the hash. The server must check the report against the chain, not believe it.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from tests.frontend.siwe_helpers import OTHER, WALLET, wallet_sign_in

BATCH = 5  # small batches so the 12 auctions need several transactions


@pytest.fixture
def wallet_app(auction_world_m, auction_world, tmp_path, monkeypatch):
    from frontend import auction_reads, create_app
    from frontend.services import Services

    monkeypatch.setattr(auction_reads, "BATCH_SIZE", BATCH)
    w = auction_world_m
    services = Services(w.chain, w.manifest, w.database_url, "http://127.0.0.1:9", tmp_path / "keystores",
                        dev_faucet=True)
    return create_app({"THINGBID_SERVICES": services, "TESTING": True, "KEYSTORE_SCRYPT_N": 2**12})


def send_as_wallet(chain, account, tx: dict) -> str:
    """What a wallet does with a prepared transaction: sign it with its key and send it raw."""
    signed = account.sign_transaction({
        "to": tx["to"], "data": tx["data"], "value": int(tx["value"], 16), "gas": int(tx["gas"], 16),
        "gasPrice": chain.w3.eth.gas_price, "nonce": chain.w3.eth.get_transaction_count(account.address),
        "chainId": chain.chain_id})
    return "0x" + bytes(chain.w3.eth.send_raw_transaction(signed.raw_transaction)).hex()


def post(client, url, token, body):
    return client.post(url, json=body, headers={"X-CSRF-Token": token})


def make_plan(client, token) -> str:
    r = client.post("/bids/plan", data={"csrf_token": token, "max_price": "0.002", "budget": "1"})
    assert r.status_code == 303
    return r.headers["Location"].rsplit("/", 1)[1]


def single(client, token, chain, action: str, body: dict):
    step = post(client, f"/wallet-tx/single/{action}", token, body).get_json()
    r = post(client, "/wallet-tx/sent", token, {"token": step["token"], "tx_hash": send_as_wallet(chain, WALLET, step["tx"])})
    assert r.status_code == 200 and r.get_json()["ok"] is True, r.get_json()
    return step


def test_a_plan_is_estimated_deposited_and_placed_by_the_wallet(auction_world_m, wallet_app):
    from exchange.chain.auction import AuctionHouseClient
    from exchange.crypto import generate_x25519

    chain = auction_world_m.chain
    house = AuctionHouseClient.from_manifest(chain, auction_world_m.manifest)
    c = wallet_app.test_client()
    token = wallet_sign_in(c)
    pid = make_plan(c, token)
    page = c.get(f"/bids/plan/{pid}").get_data(as_text=True)
    assert 'id="wallet-plan"' in page and 'id="place-form"' not in page  # the server does not sign here

    est = c.get(f"/wallet-tx/plan/{pid}/estimate.json").get_json()
    assert est["bids"] == 12 and est["batches"] == 3 and est["need_deposit_wei"] == est["bids_wei"] > 0
    assert [s["kind"] for s in est["steps"]] == ["register_key", "deposit"] and est["ready"] is False
    assert est["total_wei"] == est["value_wei"] + est["fee_wei"] and est["fee_wei"] == est["gas"] * est["fee_per_gas"]

    _, public = generate_x25519()
    step = single(c, token, chain, "register_key", {"x25519_public": public.hex()})
    assert house.buyer_key_of(WALLET.address) == public
    need = est["need_deposit_wei"]
    step = single(c, token, chain, "deposit", {"amount": str(Decimal(need) / 10**18)})
    assert step["tx"]["from"] == WALLET.address and int(step["tx"]["value"], 16) == need
    assert house.balance_of(WALLET.address).free == need

    est = c.get(f"/wallet-tx/plan/{pid}/estimate.json?x25519_public={public.hex()}").get_json()
    assert est.get("ready") is True and est["need_deposit_wei"] == 0, est
    assert [s["kind"] for s in est["steps"]] == ["bid_batch"] * 3 and all(s["gas"] > 21_000 for s in est["steps"])

    run = post(c, f"/wallet-tx/plan/{pid}/start", token, {"x25519_public": public.hex()}).get_json()
    assert post(c, f"/wallet-tx/plan/{pid}/start", token, {"x25519_public": public.hex()}).status_code == 404
    labels = []
    while True:
        step = post(c, run["next_url"], token, {}).get_json()
        if step["done"]:
            break
        labels.append(step["label"])
        assert post(c, run["next_url"], token, {}).status_code == 400  # one step at a time
        r = post(c, "/wallet-tx/sent", token, {"token": step["token"], "tx_hash": send_as_wallet(chain, WALLET, step["tx"])})
        assert r.status_code == 200 and r.get_json()["ok"], r.get_json()
    assert labels == ["bid batch 1 of 3 (5 bids)", "bid batch 2 of 3 (5 bids)", "bid batch 3 of 3 (2 bids)"]
    progress = c.get(run["progress_url"]).get_json()
    assert progress["state"] == "done" and progress["placed"] == 12 and progress["done_batches"] == 3
    assert house.buyer_key_of(WALLET.address) == public
    assert house.balance_of(WALLET.address).locked == need
    job_page = c.get(run["job_url"]).get_data(as_text=True)
    assert "12 placed, 0 skipped, 0 failed" in job_page and len(re.findall(r'<tr class="placed">', job_page)) == 12


def test_a_report_that_is_not_the_prepared_transaction_is_refused_and_the_step_stays(auction_world_m, wallet_app):
    chain = auction_world_m.chain
    c = wallet_app.test_client()
    token = wallet_sign_in(c)
    step = post(c, "/wallet-tx/single/deposit", token, {"amount": "0.01"}).get_json()
    other = dict(step["tx"], value=hex(5 * 10**15))  # the wallet sent something else (half the value)
    r = post(c, "/wallet-tx/sent", token, {"token": step["token"], "tx_hash": send_as_wallet(chain, WALLET, other)})
    assert r.status_code == 400 and "not the one prepared" in r.get_json()["error"]
    for bad in ("0x1234", "zz" * 33, None, "0x" + "00" * 32):
        r = post(c, "/wallet-tx/sent", token, {"token": step["token"], "tx_hash": bad})
        assert r.status_code == 400 and r.get_json()["error"], bad
    r = post(c, "/wallet-tx/sent", token, {"token": step["token"], "tx_hash": send_as_wallet(chain, WALLET, step["tx"])})
    assert r.status_code == 200 and r.get_json()["ok"]
    r = post(c, "/wallet-tx/sent", token, {"token": step["token"], "tx_hash": "0x" + "00" * 32})
    assert r.status_code == 404  # used once


def test_deposit_then_withdraw_with_the_wallet(auction_world_m, wallet_app):
    from exchange.chain.auction import AuctionHouseClient

    house = AuctionHouseClient.from_manifest(auction_world_m.chain, auction_world_m.manifest)
    c = wallet_app.test_client()
    token = wallet_sign_in(c)
    single(c, token, auction_world_m.chain, "deposit", {"amount": "0.05"})
    single(c, token, auction_world_m.chain, "withdraw", {"amount": "0.02"})
    assert house.balance_of(WALLET.address).free == 3 * 10**16


def test_the_wallet_page_of_a_wallet_session_offers_wallet_signed_forms(wallet_app):
    c = wallet_app.test_client()
    wallet_sign_in(c)
    r = c.get("/wallet/")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'data-session="wallet"' in html and "dist/wallet.js" in html
    assert 'data-wallet-action="deposit"' in html and 'data-wallet-action="withdraw"' in html
    # The tangle wallet is derived and signed in the browser: the page offers it without asking the node.
    assert 'id="tangle-derive"' in html and "data-wallet-tangle" in html and "tangle node unavailable" not in html


def test_another_wallet_cannot_report_or_run_my_steps(auction_world_m, wallet_app):
    mine, theirs = wallet_app.test_client(), wallet_app.test_client()
    t1, t2 = wallet_sign_in(mine), wallet_sign_in(theirs, OTHER)
    step = post(mine, "/wallet-tx/single/deposit", t1, {"amount": "0.01"}).get_json()
    r = post(theirs, "/wallet-tx/sent", t2, {"token": step["token"], "tx_hash": "0x" + "11" * 32})
    assert r.status_code == 404
    pid = make_plan(mine, t1)
    assert theirs.get(f"/wallet-tx/plan/{pid}/estimate.json").status_code == 404


@pytest.mark.parametrize("url,body,status,words", [
    ("/wallet-tx/single/deposit", {"amount": "-1"}, 400, "The amount must be an amount in ETH"),
    ("/wallet-tx/single/deposit", {"amount": "0"}, 400, "The amount must be more than 0"),
    ("/wallet-tx/single/withdraw", {"amount": "5"}, 400, "the chain would refuse"),
    ("/wallet-tx/single/settle", {"auction_ids": []}, 400, "The auction selection must be a list"),
    ("/wallet-tx/single/settle", {"auction_ids": [True]}, 400, "The auction selection must be a list"),
    ("/wallet-tx/single/settle", {"auction_ids": [1]}, 400, "the chain would refuse"),
    ("/wallet-tx/single/rate", {"auction_ids": [1], "score": 9}, 400, "The rating must be 1 to 5"),
    ("/wallet-tx/single/launder", {}, 404, "no wallet action"),
    ("/wallet-tx/sent", [], 400, "send a JSON object"),
    ("/wallet-tx/declined", {"token": "nope"}, 404, "no such prepared transaction"),
    ("/wallet-tx/plan/nosuch/start", {"x25519_public": "00" * 32}, 400, "must not be all zero"),
    ("/wallet-tx/plan/nosuch/start", {"x25519_public": "ab"}, 400, "must be 64 hex digits"),
    ("/wallet-tx/plan/nosuch/start", {"x25519_public": "ab" * 32}, 404, "no such plan"),
    ("/wallet-tx/run/nosuch/next", {}, 404, "no such wallet bidding run"),
    ("/wallet-tx/single/reveal", {"reveals": []}, 400, "must list 1 to 200 sealed bids"),
    ("/wallet-tx/tangle/submit", {"tx": "00"}, 400, "prepare the transfer first"),
    ("/wallet-tx/single/reveal", {"reveals": ["x"]}, 400, "each is {auction_id, amount, salt}"),
    # Not a sealed bid of this user in its reveal window: refused before any salt is taken.
    ("/wallet-tx/single/reveal", {"reveals": [{"auction_id": 1, "amount": "5", "salt": "11" * 32}]}, 404,
     "not one of your sealed bids waiting for its reveal"),
])
def test_bad_wallet_transaction_requests_get_a_json_reason(wallet_app, url, body, status, words):
    c = wallet_app.test_client()
    token = wallet_sign_in(c)
    r = post(c, url, token, body)
    assert r.status_code == status and words in r.get_json()["error"], r.get_json()


def test_a_keystore_session_is_sent_to_its_own_forms(wallet_app):
    from tests.frontend.fe_helpers import create_user, csrf_of

    c = wallet_app.test_client()
    assert create_user(c, "local").status_code == 302
    r = post(c, "/wallet-tx/single/deposit", csrf_of(c, "/account/"), {"amount": "0.01"})
    assert r.status_code == 400 and "local keystore" in r.get_json()["error"]


def test_signed_out_wallet_calls_answer_401_json(wallet_app):
    r = wallet_app.test_client().get("/wallet-tx/plan/x/estimate.json")
    assert r.status_code == 401 and r.get_json() == {"error": "sign in first"}


@pytest.mark.parametrize("url", ["/wallet-tx/tangle/prepare.json?address=xyz", "/wallet-tx/tangle/account.json",
                                 "/wallet-tx/tangle/prepare.json?address=" + "a" * 63])
def test_bad_tangle_addresses_get_a_json_reason(wallet_app, url):
    c = wallet_app.test_client()
    wallet_sign_in(c)
    r = c.get(url)
    assert r.status_code == 400 and "must be a tangle address: 64 hex digits" in r.get_json()["error"], r.get_json()


@pytest.mark.parametrize("query,words", [
    ("", "must be 1 to 200 auction numbers"),
    ("?auction_id=x", "must be auction numbers"),
    ("?auction_id=0", "must be 1 to 200 auction numbers"),
])
def test_bad_sealed_bid_lookups_get_a_json_reason(wallet_app, query, words):
    c = wallet_app.test_client()
    wallet_sign_in(c)
    r = c.get("/wallet-tx/sealed.json" + query)
    assert r.status_code == 400 and words in r.get_json()["error"], r.get_json()


def test_sealed_bid_lookup_of_an_auction_without_my_commitment_has_no_box(wallet_app):
    c = wallet_app.test_client()
    wallet_sign_in(c)
    r = c.get("/wallet-tx/sealed.json?auction_id=1")
    assert r.status_code == 200
    assert r.get_json()["bids"] == [{"auction_id": 1, "commitment": "0x" + "00" * 32, "deposit": "0", "box": None}]
