"""Wallet and stream forms against a real tangle node: refusals in the user's terms, the offer's span limit."""

from __future__ import annotations

import pytest

from frontend import create_app
from frontend.services import Services
from tests.frontend.fe_helpers import create_user, csrf_of, error_messages, input_attrs

FRIEND = "ab" * 32


@pytest.fixture(scope="module")
def tangle_node(tmp_path_factory):
    from exchange.tangle.testing import run_node

    with run_node(tmp_path_factory.mktemp("tangle"), rate_per_s=5000.0, rate_burst=10000) as (url, node):
        yield url


@pytest.fixture
def tangle_app(deployed, deployed_m, tangle_node, tmp_path):
    chain, manifest = deployed_m
    services = Services(chain, manifest, f"sqlite:///{tmp_path / 'catalog.db'}", tangle_node, tmp_path / "keystores",
                        dev_faucet=True)
    return create_app({"THINGBID_SERVICES": services, "TESTING": True, "KEYSTORE_SCRYPT_N": 2**12})


@pytest.fixture
def carol(tangle_app):
    c = tangle_app.test_client()
    assert create_user(c, "carol").status_code == 302
    return c


@pytest.fixture(scope="module")
def seller_m(tangle_node):
    """A device selling its "fridge" stream at 2 tokens a message, at most 100 messages at once."""
    import os

    from exchange.crypto import generate_ed25519
    from exchange.ledger import wait_confirmed
    from exchange.ledger.tangle import TangleLedger
    from exchange.streams.seller import StreamSeller
    from exchange.streams.testing import device_id

    device = device_id(os.urandom(8).hex())
    s = StreamSeller(TangleLedger.connect(tangle_node), device, generate_ed25519()[0])
    s.add_stream("fridge", price=2, max_span=100)
    for ref in s.advertise():
        wait_confirmed(s.ledger, ref)
    return s


@pytest.fixture
def seller(seller_m, deployed, deployed_m):
    """The device above, checked in to the registry with the tangle address it is paid at (the chain is
    reverted after every test, so it is checked in again for each)."""
    from exchange.chain.registry import RegistryClient
    from exchange.streams.testing import check_in

    chain, manifest = deployed_m
    check_in(RegistryClient.from_manifest(chain, manifest), seller_m.device_id, chain.accounts[5], seller_m.ledger.address)
    return "0x" + seller_m.device_id


def attacker_offer(tangle_node, device_id: str, price: int):
    from exchange.crypto import generate_ed25519
    from exchange.ledger import wait_confirmed
    from exchange.ledger.tangle import TangleLedger
    from exchange.streams.seller import StreamSeller

    s = StreamSeller(TangleLedger.connect(tangle_node), device_id, generate_ed25519()[0])
    s.add_stream("fridge", price=price, max_span=100)
    for ref in s.advertise():
        wait_confirmed(s.ledger, ref)
    return s


def tangle_balance(client) -> int:
    import re

    return int(re.search(r'id="tangle-balance">(\d+)<', client.get("/wallet/").get_data(as_text=True)).group(1))


def faucet(client, amount: str):
    r = client.post("/wallet/tangle/faucet", data={"csrf_token": csrf_of(client, "/wallet/"), "amount": amount})
    assert r.status_code == 302, error_messages(r.get_data(as_text=True))


def test_sending_more_than_the_tangle_balance_says_so_in_plain_words(carol):
    faucet(carol, "5")
    assert tangle_balance(carol) == 5
    r = carol.post("/wallet/tangle/send", data={"csrf_token": csrf_of(carol, "/wallet/"), "to": FRIEND, "amount": "10"})
    page = r.get_data(as_text=True)
    assert r.status_code == 400
    assert error_messages(page) == ["Your tangle balance (5) is too low to send 10."]
    assert "insufficient funds" not in page and "cannot pay" not in page
    assert input_attrs(page, "amount", "tangle-send-form")["value"] == "10"
    assert input_attrs(page, "to", "tangle-send-form")["value"] == FRIEND
    assert tangle_balance(carol) == 5  # nothing was sent


def test_the_buy_form_caps_the_span_at_the_offers_max_span(carol, seller):
    page = carol.get(f"/streams/offers?device_id={seller}").get_data(as_text=True)
    span = input_attrs(page, "span")
    assert span["max"] == "100" and span["min"] == "1"


@pytest.mark.parametrize("span,message", [
    ("101", "The span must be at most 100: the most messages this stream sells at once"),
    ("1000000", "The span must be at most 100: the most messages this stream sells at once"),
    ("5", "Your tangle balance (0) is too low to pay 10 for 5 messages."),
    ("x5", "The span must be a whole number, not 'x5'"),
])
def test_a_refused_stream_purchase_shows_the_offers_again_with_the_typed_span(tangle_app, carol, seller, span,
                                                                               message):
    r = carol.post("/streams/buy", data={"csrf_token": csrf_of(carol, "/wallet/"), "device_id": seller,
                                         "stream": "fridge", "span": span})
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and error_messages(page) == [message]
    attrs = input_attrs(page, "span")
    assert attrs["value"] == span and attrs["aria-invalid"] == "true" and attrs["max"] == "100"
    address = carol.get("/account/whoami.json").get_json()["address"]
    assert tangle_app.extensions["thingbid.streams"].of(address) == []  # nothing bought


def test_the_offers_page_ignores_an_attackers_cheaper_offer(carol, seller, seller_m, tangle_node):
    attacker = attacker_offer(tangle_node, seller_m.device_id, 1)
    page = carol.get(f"/streams/offers?device_id={seller}").get_data(as_text=True)
    assert attacker.offers  # it did publish a cheaper offer for the same stream, after the device's
    assert "<td>fridge</td><td>2</td>" in page and "<td>fridge</td><td>1</td>" not in page


def test_the_offers_page_of_a_device_offered_only_by_an_attacker_lists_nothing(carol, tangle_node):
    import os

    device = os.urandom(32).hex()
    attacker = attacker_offer(tangle_node, device, 1)
    page = carol.get(f"/streams/offers?device_id=0x{device}").get_data(as_text=True)
    assert attacker.offers and 'name="span"' not in page
    assert "This device offers no stream on the tangle that matches its registry record." in page
