"""``thingbid stream buy`` / ``read`` against a real tangle node and a seller thread."""

import json
import threading

import pytest

from exchange.cli import main
from exchange.crypto.tokens import generate_ed25519
from exchange.ledger import wait_confirmed
from exchange.ledger.testing import tangle_env
from exchange.streams import StreamSeller

DEVICE = "c0" * 32


@pytest.fixture
def running_seller(tmp_path, monkeypatch):
    from exchange.tangle.wallet import Wallet

    with tangle_env(tmp_path) as env:
        sk, _ = generate_ed25519()
        seller = StreamSeller(env.make(), DEVICE, sk)
        seller.add_stream("power", 3)
        wait_confirmed(seller.ledger, seller.advertise()[0])
        wallet_path = tmp_path / "buyer.json"
        env.alice.wallet.save(wallet_path, "wallet-pw")
        assert Wallet.load(wallet_path, "wallet-pw").address == env.alice.address
        monkeypatch.setenv("THINGBID_WALLET_PASSWORD", "wallet-pw")
        monkeypatch.setenv("THINGBID_STREAM_PASSWORD", "stream-pw")
        stop = threading.Event()
        t = threading.Thread(target=seller.run, args=(stop, 0.02), daemon=True)
        t.start()
        yield env, seller, wallet_path
        stop.set()
        t.join(5)


def test_cli_buy_then_read_prints_exactly_the_span(running_seller, tmp_path, capsys):
    env, seller, wallet = running_seller
    out = tmp_path / "purchase.json"
    assert main(["stream", "buy", DEVICE, "--span", "2", "--url", env.url, "--wallet", str(wallet),
                 "--out", str(out), "--timeout", "10"]) == 0
    bought = json.loads(capsys.readouterr().out)
    assert (bought["paid"], bought["sold"], bought["refund"]) == (6, 2, 0)
    assert out.stat().st_mode & 0o777 == 0o600 and '"key"' not in out.read_text()
    for i in range(4):
        ref = seller.publish("power", {"watts": 100 + i})
    wait_confirmed(seller.ledger, ref)
    assert main(["stream", "read", str(out), "--timeout", "5"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert lines == [{"seq": 0, "reading": {"watts": 100}}, {"seq": 1, "reading": {"watts": 101}}]


def test_cli_offers_and_errors_are_one_line(running_seller, capsys):
    env, _, wallet = running_seller
    assert main(["stream", "offers", DEVICE, "--url", env.url]) == 0
    assert json.loads(capsys.readouterr().out)["price_per_message"] == 3
    assert main(["stream", "buy", DEVICE, "--span", "1", "--url", env.url]) == 1
    assert "needs --wallet" in capsys.readouterr().err
    assert main(["stream", "buy", "ab" * 32, "--span", "1", "--url", env.url, "--wallet", str(wallet)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("thingbid: error:") and "offers no stream" in err
