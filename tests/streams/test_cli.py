"""``thingbid stream buy`` / ``read`` against a real tangle node, a seller thread and a DeviceRegistry on
an eth-tester chain served over JSON-RPC (offers are checked against the registry record)."""

import json
import threading

import pytest

from exchange.cli import main
from exchange.crypto.tokens import generate_ed25519
from exchange.ledger import wait_confirmed
from exchange.ledger.testing import tangle_env
from exchange.streams import StreamSeller
from exchange.streams.testing import check_in, device_id

DEVICE = device_id("cli")


@pytest.fixture
def registry_rpc():
    """(registry client, ["--rpc", URL, "--registry", ADDRESS]) on an eth-tester chain over JSON-RPC."""
    from exchange.chain.connect import embedded_chain
    from exchange.chain.registry import RegistryClient
    from exchange.chain.rpcserver import EmbeddedRpcServer

    chain = embedded_chain()
    server = EmbeddedRpcServer(chain).start()
    try:
        registry = RegistryClient.deploy(chain)
        yield registry, ["--rpc", server.url, "--registry", registry.address]
    finally:
        server.stop()
        chain.close()


@pytest.fixture
def running_seller(tmp_path, monkeypatch, registry_rpc):
    from exchange.tangle.wallet import Wallet

    registry, chain_args = registry_rpc
    with tangle_env(tmp_path) as env:
        sk, _ = generate_ed25519()
        seller = StreamSeller(env.make(), DEVICE, sk)
        seller.add_stream("power", 3)
        wait_confirmed(seller.ledger, seller.advertise()[0])
        check_in(registry, DEVICE, registry.chain.accounts[1], seller.ledger.address)
        env.chain_args = chain_args
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
                 "--out", str(out), "--timeout", "10", *env.chain_args]) == 0
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
    assert main(["stream", "offers", DEVICE, "--url", env.url, *env.chain_args]) == 0
    assert json.loads(capsys.readouterr().out)["price_per_message"] == 3
    assert main(["stream", "buy", DEVICE, "--span", "1", "--url", env.url, *env.chain_args]) == 1
    assert "needs --wallet" in capsys.readouterr().err
    assert main(["stream", "buy", "ab" * 32, "--span", "1", "--url", env.url, "--wallet", str(wallet),
                 *env.chain_args]) == 1
    err = capsys.readouterr().err
    assert err.startswith("thingbid: error:") and "offers no stream" in err


def attacker_offer(env, price):
    """An offer for DEVICE signed by another key, paying to and published from another account."""
    sk, _ = generate_ed25519()
    attacker = StreamSeller(env.make(), DEVICE, sk)
    attacker.add_stream("power", price)
    wait_confirmed(attacker.ledger, attacker.advertise()[0])
    return attacker


def test_cli_offers_and_buy_ignore_a_cheaper_attacker_offer(running_seller, tmp_path, capsys):
    env, seller, wallet = running_seller
    attacker = attacker_offer(env, 1)
    assert main(["stream", "offers", DEVICE, "--url", env.url, *env.chain_args]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert (json.loads(line)["pay_to"], json.loads(line)["price_per_message"]) == (seller.ledger.address, 3)
    assert main(["stream", "buy", DEVICE, "--span", "2", "--url", env.url, "--wallet", str(wallet),
                 "--out", str(tmp_path / "p.json"), "--timeout", "10", *env.chain_args]) == 0
    assert json.loads(capsys.readouterr().out)["paid"] == 6
    assert attacker.ledger.balance() == 0


def test_cli_says_in_one_line_when_only_an_attacker_offers(tmp_path, registry_rpc, capsys):
    registry, chain_args = registry_rpc
    with tangle_env(tmp_path) as env:
        check_in(registry, DEVICE, registry.chain.accounts[1], env.make().address)  # the device offers nothing
        attacker_offer(env, 1)
        assert main(["stream", "offers", DEVICE, "--url", env.url, *chain_args]) == 1
        out = capsys.readouterr()
        assert out.out == "" and len(out.err.splitlines()) == 1 and "no genuine offer" in out.err
