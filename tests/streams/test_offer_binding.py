"""Issue 12 case 1: a stream offer is believed only if it matches the device's registry record.

An attacker publishes, under the genuine device's offers tag, a cheaper offer signed with its own
key and paying to its own address. Buyers must list and pay only the device's own offer."""

import logging

import pytest

from exchange.crypto.tokens import generate_ed25519
from exchange.ledger import wait_confirmed
from exchange.streams import PurchaseError, StreamBuyer, StreamSeller
from exchange.streams.protocol import Offer, offers_tag, sign_doc
from exchange.streams.testing import device_id, registered

DEVICE = device_id("binding")


def advertised(ledger, name, price):
    sk, _ = generate_ed25519()
    seller = StreamSeller(ledger, DEVICE, sk)
    seller.add_stream(name, price)
    for ref in seller.advertise():
        wait_confirmed(ledger, ref)
    return seller


@pytest.fixture
def attacked(ledgers):
    """The genuine seller (price 10, registered) and an attacker's cheaper offer (price 1) for the same
    stream, published after it, so "latest offer wins" picks the attacker's."""
    genuine = advertised(ledgers.make(), "temperature", 10)
    with registered(ledgers, DEVICE, genuine.ledger) as records:
        attacker = advertised(ledgers.make(), "temperature", 1)
        yield genuine, attacker, StreamBuyer(ledgers.alice, registry=records), ledgers


def test_attacker_offer_paying_itself_is_ignored_with_a_logged_reason(attacked, caplog):
    genuine, attacker, buyer, _ = attacked
    with caplog.at_level(logging.WARNING, logger="exchange.streams.buyer"):
        offers = buyer.offers(DEVICE)
    assert offers == [genuine.offers[genuine.by_name["temperature"]]]
    assert buyer.offer(DEVICE, "temperature").pay_to == genuine.ledger.address
    reasons = [r.getMessage() for r in caplog.records]
    assert any(f"pays to {attacker.ledger.address}" in m for m in reasons), reasons


def test_buy_pays_the_registered_device_not_the_attacker(attacked):
    genuine, attacker, buyer, _ = attacked
    before = attacker.ledger.balance()
    offer = buyer.offer(DEVICE, "temperature")
    _, ref, paid = buyer.pay(offer, 2)
    wait_confirmed(buyer.ledger, ref)
    assert (offer.price, paid) == (10, 20)
    assert attacker.ledger.balance() == before
    (payment,) = [p for p in genuine.ledger.incoming()[0] if p.ref == ref]
    assert payment.amount == 20


def test_offer_paying_the_device_but_published_by_another_account_is_ignored(attacked, caplog):
    """The registered address pays, but the signing key is the attacker's: its sale answers would be
    believed. The offer's carrier must be the registered account, whose signature vouches for the key."""
    genuine, _, buyer, ledgers = attacked
    sk, pk = generate_ed25519()
    forged = Offer(DEVICE, "humidity", "ab" * 32, 1, genuine.ledger.address, ledgers.kind, 100, pk.hex())
    rogue = ledgers.make()
    ledgers.fund(rogue, 10**5)
    wait_confirmed(rogue, rogue.publish(offers_tag(DEVICE), sign_doc(sk, forged.body())))
    with caplog.at_level(logging.WARNING, logger="exchange.streams.buyer"):
        assert [o.stream for o in buyer.offers(DEVICE)] == ["temperature"]
    assert any("published by" in r.getMessage() for r in caplog.records)
    with pytest.raises(PurchaseError, match="offers no stream 'humidity'"):
        buyer.offer(DEVICE, "humidity")


def test_unregistered_device_has_no_genuine_offer(ledgers):
    genuine = advertised(ledgers.make(), "temperature", 10)
    other = device_id("binding-other")
    with registered(ledgers, other, genuine.ledger) as records:
        buyer = StreamBuyer(ledgers.alice, registry=records)
        assert buyer.offers(DEVICE) == []
        with pytest.raises(PurchaseError, match="no genuine offer"):
            buyer.offer(DEVICE)
