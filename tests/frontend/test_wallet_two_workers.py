"""Wallet runs and prepared transactions across two workers (issues 14, 18): a step prepared by one
worker is reported on the other, and a plan run started on one is stepped on both."""

from __future__ import annotations

from decimal import Decimal

import pytest
from werkzeug.test import Client

from exchange.crypto import generate_x25519
from tests.frontend.siwe_helpers import WALLET, wallet_sign_in
from tests.frontend.test_two_workers import SECRET, Alternating
from tests.frontend.test_wallet_tx import make_plan, post, send_as_wallet


@pytest.fixture
def wallet_workers(auction_world_m, auction_world, tmp_path, monkeypatch):
    from frontend import auction_reads, create_app
    from frontend.services import Services

    monkeypatch.setattr(auction_reads, "BATCH_SIZE", 5)
    w = auction_world_m

    def worker():
        services = Services(w.chain, w.manifest, w.database_url, "http://127.0.0.1:9", tmp_path / "keystores",
                            dev_faucet=True)
        return create_app({"THINGBID_SERVICES": services, "TESTING": True, "KEYSTORE_SCRYPT_N": 2**12,
                           "SECRET_KEY": SECRET})

    return Alternating([worker(), worker()])


def test_a_deposit_prepared_on_one_worker_is_reported_on_the_other_once(auction_world_m, wallet_workers):
    chain = auction_world_m.chain
    c = Client(wallet_workers)
    token = wallet_sign_in(c)
    r = post(c, "/wallet-tx/single/deposit", token, {"amount": "0.01"})
    assert r.status_code == 200, r.get_json()
    step, prepared_on = r.get_json(), wallet_workers.served[-1]
    tx_hash = send_as_wallet(chain, WALLET, step["tx"])
    r = post(c, "/wallet-tx/sent", token, {"token": step["token"], "tx_hash": tx_hash})
    assert wallet_workers.served[-1] != prepared_on
    assert r.status_code == 200 and r.get_json()["ok"] is True, r.get_json()
    r = post(c, "/wallet-tx/sent", token, {"token": step["token"], "tx_hash": tx_hash})
    assert r.status_code == 404  # used once, on either worker


def test_a_wallet_plan_run_started_on_one_worker_is_stepped_and_finished_across_both(auction_world_m, wallet_workers):
    chain = auction_world_m.chain
    c = Client(wallet_workers)
    token = wallet_sign_in(c)
    pid = make_plan(c, token)
    est = c.get(f"/wallet-tx/plan/{pid}/estimate.json").get_json()
    step = post(c, "/wallet-tx/single/deposit", token, {"amount": str(Decimal(est["need_deposit_wei"]) / 10**18)})
    r = post(c, "/wallet-tx/sent", token, {"token": step.get_json()["token"],
                                          "tx_hash": send_as_wallet(chain, WALLET, step.get_json()["tx"])})
    assert r.get_json()["ok"] is True, r.get_json()
    _, public = generate_x25519()
    run = post(c, f"/wallet-tx/plan/{pid}/start", token, {"x25519_public": public.hex()}).get_json()
    assert "next_url" in run, run
    labels, served = [], []
    for _ in range(10):
        r = post(c, run["next_url"], token, {})
        served.append(wallet_workers.served[-1])
        assert r.status_code == 200, r.get_json()
        step = r.get_json()
        if step["done"]:
            break
        labels.append(step["label"])
        r = post(c, run["next_url"], token, {})  # one step at a time, whichever worker is asked
        served.append(wallet_workers.served[-1])
        assert r.status_code == 400, r.get_json()
        r = post(c, "/wallet-tx/sent", token, {"token": step["token"],
                                              "tx_hash": send_as_wallet(chain, WALLET, step["tx"])})
        served.append(wallet_workers.served[-1])
        assert r.status_code == 200 and r.get_json()["ok"], r.get_json()
    assert set(served) == {0, 1}
    assert labels[0] == "register your key-delivery key (once)"
    assert labels[1:] == ["bid batch 1 of 3 (5 bids)", "bid batch 2 of 3 (5 bids)", "bid batch 3 of 3 (2 bids)"]
    for _ in range(2):
        progress = c.get(run["progress_url"]).get_json()
        assert progress["state"] == "done" and progress["placed"] == 12 and progress["done_batches"] == 3, progress


def test_a_prepared_transaction_is_kept_with_only_the_keccak_of_its_call_data(auction_world_m, wallet_workers):
    import json

    from sqlalchemy import create_engine, select

    from exchange.chain.prepared import PreparedTx
    from frontend.webstate import WALLET_PENDING

    c = Client(wallet_workers)
    token = wallet_sign_in(c)
    step = post(c, "/wallet-tx/single/deposit", token, {"amount": "0.0123"}).get_json()
    with create_engine(auction_world_m.database_url).connect() as conn:
        rows = [json.loads(r) for r in conn.execute(select(WALLET_PENDING.c.prepared)).scalars()]
    kept = PreparedTx(**next(r for r in rows if r["value"] == 123 * 10**14))
    assert step["tx"]["data"].removeprefix("0x") not in json.dumps(rows) and kept.data.startswith("keccak:")
    assert kept.data_matches(step["tx"]["data"]) and not kept.data_matches(step["tx"]["data"][:-2] + "00")
