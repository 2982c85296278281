"""The fast issuer (one client, cached account state, local tips, batches) against a real node."""

import pytest

from exchange.tangle import tx as txm
from exchange.tangle.client import TangleClient
from exchange.tangle.issuer import Issuer
from exchange.tangle.testing import run_node
from exchange.tangle.wallet import Wallet

NO_LOAD_POW = {"pow_free_rate": 0, "pow_free_rate_per_sender": 0, "rate_per_s": 0}


def test_an_issuer_sends_chained_transfers_in_batches_and_all_confirm(tmp_path):
    with run_node(tmp_path, **NO_LOAD_POW) as (url, _node):
        c = TangleClient(url)
        w, sink = Wallet.generate(), Wallet.generate().address
        c.wait_confirmed(c.faucet(w.address, 10**6))
        issuer = Issuer(w, c, batch=40)
        res = issuer.send_many([(sink, 2)] * 150)
        assert all("id" in r for r in res) and issuer.resyncs == 0
        c.wait_confirmed(res[-1]["id"], timeout=30)
        for r in res[::25] + res[-1:]:
            d = c.wait_confirmed(r["id"], timeout=30)
            assert d["confirmed"] and not d["conflicting"]
        assert c.balance(sink) == 300 and c.account(w.address)["next_sequence"] == 150


def test_an_issuer_whose_cached_sequence_went_stale_resyncs_after_the_refusal(tmp_path):
    with run_node(tmp_path, **NO_LOAD_POW) as (url, _node):
        c = TangleClient(url)
        w, sink = Wallet.generate(), Wallet.generate().address
        c.wait_confirmed(c.faucet(w.address, 10**6))
        issuer = Issuer(w, c, batch=10)
        assert all("id" in r for r in issuer.send_many([(sink, 1)] * 5))
        c.wait_confirmed(w.send(c, sink, 1), timeout=30)  # the same wallet elsewhere: sequence 5 is taken
        stale = issuer.send_many([(sink, 1)] * 3)
        assert stale[0]["status"] == 409 and "already used" in stale[0]["error"] and issuer.resyncs == 1
        again = issuer.send_many([(sink, 1)] * 3)
        assert all("id" in r for r in again)
        c.wait_confirmed(again[-1]["id"], timeout=30)
        assert c.account(w.address)["next_sequence"] == 9


def test_an_issuer_refuses_a_batch_the_node_would_not_take():
    with pytest.raises(ValueError, match="1..1000"):
        Issuer(Wallet.generate(), TangleClient("http://127.0.0.1:9"), batch=1001)


@pytest.mark.parametrize("difficulty", [0, 1, 7, 8, 9, 12, 16])
def test_proof_of_work_meets_its_difficulty_exactly_at_the_first_nonce_that_does(difficulty):
    prefix = b"thingbid-pow-%d" % difficulty
    raw = txm.do_pow(prefix, difficulty)
    nonce = int.from_bytes(raw[-8:], "big")
    assert txm.pow_ok(txm.blake(raw), difficulty)
    assert not any(txm.pow_ok(txm.blake(prefix + n.to_bytes(8, "big")), difficulty) for n in range(nonce))


def test_proof_of_work_beyond_256_bits_is_refused():
    with pytest.raises(txm.TxFormatError):
        txm.do_pow(b"x", 257)
