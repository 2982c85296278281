"""The micro-purchase over both ledgers: pay, get the sealed root, read exactly the span bought."""

import contextlib
import time

import pytest

from exchange.crypto.tokens import generate_ed25519
from exchange.ledger import wait_confirmed
from exchange.streams import (
    GapDetected,
    NoReadKey,
    PurchaseError,
    SaleRefused,
    StreamBuyer,
    StreamSeller,
)
from exchange.streams.channel import ChannelWriter
from exchange.streams.protocol import PurchaseRequest
from exchange.streams.testing import device_id, registered

DEVICE = device_id("purchase")
PRICE = 10


@pytest.fixture
def market(ledgers, tmp_path):
    sk, _ = generate_ed25519()
    seller = StreamSeller(ledgers.make(), DEVICE, sk, book_path=tmp_path / "book.json")
    seller.add_stream("temperature", PRICE, max_span=50)
    for ref in seller.advertise():
        wait_confirmed(seller.ledger, ref)
    with registered(ledgers, DEVICE, seller.ledger) as records:
        yield seller, StreamBuyer(ledgers.alice, registry=records), ledgers


def sell(seller, n=1, timeout=10.0):
    """Drive the seller until ``n`` sales are made (the device agent runs this in a loop)."""
    out, deadline = [], time.monotonic() + timeout
    while len(out) < n:
        out += seller.poll()
        assert time.monotonic() < deadline, "seller made no sale in time"
        time.sleep(0.02)
    return out


def purchase(seller, buyer, span, amount=None, channel=None):
    offer = buyer.offer(DEVICE, "temperature")
    req, ref, paid = buyer.pay(offer, span, amount, channel)
    records = sell(seller)
    return buyer.await_answer(offer, req, ref, paid, timeout=10), records[0]


def publish(seller, start, n):
    refs = [seller.publish("temperature", {"seq": i, "celsius": 20 + i / 10}) for i in range(start, start + n)]
    wait_confirmed(seller.ledger, refs[-1])


def read_all(buyer, p, timeout=10.0):
    f = buyer.follower(p)
    got = list(f.follow(timeout=timeout, interval=0.02))
    return f, got


@pytest.mark.parametrize("ledgers", ["tangle", "ethereum", pytest.param("anvil", marks=pytest.mark.anvil)],
                         indirect=True)
def test_full_purchase_reads_exactly_the_span_then_nothing_newer(market):
    seller, buyer, _ = market
    publish(seller, 0, 3)  # before the sale: not part of it
    p, rec = purchase(seller, buyer, span=4)
    assert (p.sold, p.refund, rec.sold, rec.refund) == (4, 0, 4, 0)
    assert p.root.seq == 3 and p.root.span == 4
    publish(seller, 3, 7)
    f, got = read_all(buyer, p)
    assert [r.json()["seq"] for r in got] == [3, 4, 5, 6]
    assert f.done and f.forged == 0
    # after the span the key was rotated: the buyer's keys do not open message 7
    msgs, _ = buyer.ledger.read(p.root.channel, 0)
    later = [m.data for m in msgs][7]
    with pytest.raises(NoReadKey):
        f.reader.accept(later)


def test_offer_names_price_address_and_device_key(market):
    seller, buyer, ledgers = market
    (offer,) = buyer.offers(DEVICE)
    assert (offer.price, offer.pay_to, offer.ledger, offer.device_public) == (
        PRICE, seller.ledger.address, ledgers.kind, seller.device_public.hex())
    with pytest.raises(PurchaseError, match="offers no stream"):
        buyer.offer(DEVICE, "humidity")


def test_underpayment_is_refused_and_refunded(market):
    seller, buyer, _ = market
    before = len(buyer.ledger.incoming()[0])
    with pytest.raises(SaleRefused) as err:
        purchase(seller, buyer, span=3, amount=PRICE - 1)
    assert (err.value.reason, err.value.refund) == ("underpaid", PRICE - 1)
    (rec,) = seller.sales
    wait_confirmed(buyer.ledger, rec.refund_ref)
    refunds = buyer.ledger.incoming()[0][before:]
    assert [r.amount for r in refunds] == [PRICE - 1] and b'"underpaid"' in refunds[0].memo


@pytest.mark.parametrize("extra, span, sold, refund", [
    (0, 3, 3, 0),  # exact
    (PRICE * 3 + 7, 3, 3, PRICE * 3 + 7),  # over: the excess comes back
    (-PRICE - 4, 3, 1, PRICE - 4),  # partial: span proportional, odd part back
])
def test_payment_amounts_buy_a_proportional_span(market, extra, span, sold, refund):
    seller, buyer, _ = market
    p, _ = purchase(seller, buyer, span, amount=PRICE * span + extra)
    assert (p.sold, p.refund, p.root.span) == (sold, refund, sold)
    assert p.reason == ("" if sold == span else "partial")


def test_span_above_the_offer_maximum_is_capped_and_the_rest_refunded(market):
    seller, buyer, _ = market
    p, _ = purchase(seller, buyer, span=60)
    assert (p.sold, p.refund) == (50, 10 * PRICE)


def test_unknown_stream_is_refused_and_refunded(market):
    seller, buyer, _ = market
    with pytest.raises(SaleRefused) as err:
        purchase(seller, buyer, span=2, channel="ee" * 32)
    assert (err.value.reason, err.value.refund) == ("unknown_stream", 2 * PRICE)


def test_replayed_payment_is_never_sold_twice(market, tmp_path):
    seller, buyer, _ = market
    p, _ = purchase(seller, buyer, span=2)
    # the seller re-scans the whole history (as after losing its cursor): nothing is sold again
    seller.book.cursor = 0
    assert seller.poll() == []
    # a restarted seller with the same sale book does not sell it again either
    again = StreamSeller(seller.ledger, DEVICE, seller.signing_key, book_path=tmp_path / "book.json")
    again.add_stream("temperature", PRICE, writer=seller.writer("temperature"))
    assert again.poll() == [] and p.payment_ref in again.book.done


def test_payment_reusing_an_old_purchase_nonce_is_refunded(market):
    seller, buyer, _ = market
    offer = buyer.offer(DEVICE, "temperature")
    p, _ = purchase(seller, buyer, span=2)
    ref = buyer.ledger.transfer(offer.pay_to, 2 * PRICE, p.request.memo())  # same memo, new payment
    (rec,) = sell(seller)
    assert (rec.payment_ref, rec.sold, rec.refund, rec.reason) == (ref, 0, 2 * PRICE, "duplicate")


@pytest.mark.parametrize("memo", [b"", b"hello", b'{"p":"thingbid/stream/1","t":"buy"}'])
def test_payment_without_a_valid_purchase_memo_is_refunded(market, memo):
    seller, buyer, _ = market
    ref = buyer.ledger.transfer(seller.ledger.address, 33, memo)
    (rec,) = sell(seller)
    assert (rec.payment_ref, rec.sold, rec.refund, rec.reason) == (ref, 0, 33, "malformed")


def test_payment_naming_another_device_is_refunded(market):
    seller, buyer, _ = market
    offer = buyer.offer(DEVICE, "temperature")
    req = PurchaseRequest.new("ab" * 32, offer.channel, 1, buyer.x25519_public)
    buyer.ledger.transfer(offer.pay_to, PRICE, req.memo())
    (rec,) = sell(seller)
    assert (rec.sold, rec.reason) == (0, "wrong_device")


def test_forged_and_reordered_messages_on_the_ledger(market, ledgers):
    seller, buyer, _ = market
    p, _ = purchase(seller, buyer, span=3)
    w = seller.writer("temperature")
    wires = [w.seal(b'{"seq": %d}' % i) for i in range(3)]
    impostor_sk, _ = generate_ed25519()
    forged = ChannelWriter.from_state(impostor_sk, {**w.export_state(), "seq": 1})
    forged.channel = w.channel
    attacker = ledgers.make()
    if ledgers.kind == "tangle":
        ledgers.fund(attacker, 1)
    attacker.publish(w.tag, forged.seal(b'{"seq": 666}'))  # anyone can post under the tag
    for i in (1, 0, 2):  # message 1 arrives before message 0
        ref = seller.ledger.publish(w.tag, wires[i])
    wait_confirmed(seller.ledger, ref)
    f, got = read_all(buyer, p)
    assert [r.json()["seq"] for r in got] == [0, 1, 2]
    assert f.forged == 1 and f.reordered == 1


def test_missing_message_is_reported_as_a_gap(market):
    seller, buyer, _ = market
    p, _ = purchase(seller, buyer, span=3)
    w = seller.writer("temperature")
    wires = [w.seal(b"{}") for _ in range(3)]
    for i in (0, 2):
        ref = seller.ledger.publish(w.tag, wires[i])
    wait_confirmed(seller.ledger, ref)
    f = buyer.follower(p, gap_timeout=0.2)
    with pytest.raises(GapDetected) as err:
        list(f.follow(timeout=5, interval=0.05))
    assert (err.value.expected, err.value.got) == (1, 2)


def test_a_cursor_hint_from_another_node_still_reads_the_whole_span(market):
    """A tangle cursor is one node's arrival number: read from another node, the root's
    ``since`` can point past the span. The follower rewinds once instead of missing it."""
    from dataclasses import replace

    from exchange.streams.follow import ChannelFollower

    seller, buyer, _ = market
    p, _ = purchase(seller, buyer, span=3)
    publish(seller, 0, 4)
    _, now = buyer.ledger.read(p.root.channel, p.root.since)
    f = ChannelFollower(buyer.ledger, replace(p.root, since=now + 1000), gap_timeout=0.3)
    got = list(f.follow(timeout=10, interval=0.05))
    assert [r.json()["seq"] for r in got] == [0, 1, 2]
    assert f.done and f.rewound and f.forged == 0


def test_a_closed_seller_withdraws_its_offers_and_refunds_payments_in_full(market):
    seller, buyer, _ = market
    offer = buyer.offer(DEVICE, "temperature")  # seen before the owner withdrew consent
    for ref in seller.close():
        wait_confirmed(seller.ledger, ref)
    assert buyer.offers(DEVICE) == []
    with pytest.raises(PurchaseError, match="offers no stream"):
        buyer.offer(DEVICE, "temperature")
    req, ref, paid = buyer.pay(offer, 3)  # paid against the stale offer
    rec = sell(seller)[0]
    assert (rec.sold, rec.refund, rec.reason) == (0, 3 * PRICE, "not_selling") and rec.refund_ref
    with pytest.raises(SaleRefused) as refused:
        buyer.await_answer(offer, req, ref, paid, timeout=10)
    assert refused.value.reason == "not_selling"
    for r in seller.reopen():  # consent given again: on sale again
        wait_confirmed(seller.ledger, r)
    assert [o.stream for o in buyer.offers(DEVICE)] == ["temperature"]
    p, rec = purchase(seller, buyer, span=2)
    assert (p.sold, rec.sold) == (2, 2)


def test_a_withdrawal_signed_by_another_key_does_not_hide_an_offer(market):
    from exchange.streams.protocol import offers_tag, sign_doc, withdrawal_body

    seller, buyer, _ = market
    offer = buyer.offer(DEVICE, "temperature")
    other_sk, _ = generate_ed25519()
    forged = sign_doc(other_sk, withdrawal_body(offer))
    wait_confirmed(seller.ledger, seller.ledger.publish(offers_tag(DEVICE), forged))
    assert buyer.offer(DEVICE, "temperature") == offer


def test_buy_against_a_seller_running_in_its_own_thread(tmp_path):
    import threading

    from exchange.ledger.testing import tangle_env

    with contextlib.ExitStack() as stack, tangle_env(tmp_path) as env:
        sk, _ = generate_ed25519()
        seller = StreamSeller(env.make(), DEVICE, sk)
        seller.add_stream("temperature", PRICE)
        wait_confirmed(seller.ledger, seller.advertise()[0])
        stop = threading.Event()
        t = threading.Thread(target=seller.run, args=(stop, 0.02), daemon=True)
        t.start()
        try:
            buyer = StreamBuyer(env.alice, registry=stack.enter_context(registered(env, DEVICE, seller.ledger)))
            before = buyer.ledger.balance()
            p = buyer.buy(DEVICE, 2, timeout=10)
            publish(seller, 0, 3)
            _, got = read_all(buyer, p)
        finally:
            stop.set()
            t.join(5)
        assert [r.json()["seq"] for r in got] == [0, 1]
        assert p.seconds < 5 and buyer.ledger.balance() == before - 2 * PRICE  # feeless: exactly the price


def test_seller_that_lost_its_sale_book_still_never_sells_twice(market, tmp_path):
    seller, buyer, _ = market
    p, _ = purchase(seller, buyer, span=2)
    amnesiac = StreamSeller(seller.ledger, DEVICE, seller.signing_key, book_path=tmp_path / "new-book.json")
    amnesiac.add_stream("temperature", PRICE, writer=seller.writer("temperature"))
    assert amnesiac.poll() == [] and p.payment_ref in amnesiac.book.done


def test_eavesdropper_with_another_key_cannot_open_the_answer(market, ledgers):
    seller, buyer, _ = market
    p, _ = purchase(seller, buyer, span=2)
    eve = StreamBuyer(ledgers.bob, registry=buyer.registry)  # reads the same public answer, holds a different X25519 key
    with pytest.raises(PurchaseError, match="does not open"):
        eve.await_answer(p.offer, p.request, p.payment_ref, p.paid, timeout=5)
