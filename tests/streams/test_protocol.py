"""The sale decision and the protocol documents, without a ledger."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.crypto.tokens import generate_ed25519
from exchange.streams.errors import MalformedMessage
from exchange.streams.protocol import Offer, PurchaseRequest, decide, open_doc, sign_doc

DEV = "aa" * 32
CH = "cc" * 32
SK, PK = generate_ed25519()
OFFER = Offer(DEV, "t", CH, 7, "addr", "tangle", 100, PK.hex())
OFFERS = {CH: OFFER}


def memo(span=3, dev=DEV, ch=CH, nonce="00" * 16):
    return PurchaseRequest(dev, ch, span, "bb" * 32, nonce).memo()


@pytest.mark.parametrize("amount, span, sold, refund, reason", [
    (21, 3, 3, 0, ""),
    (30, 3, 3, 9, ""),
    (20, 3, 2, 6, "partial"),
    (6, 3, 0, 6, "underpaid"),
    (7 * 150, 150, 100, 7 * 50, "partial"),
])
def test_amounts(amount, span, sold, refund, reason):
    d = decide(DEV, OFFERS, amount, memo(span), set())
    assert (d.sell, d.refund, d.reason) == (sold, refund, reason)


@pytest.mark.parametrize("raw, reason", [
    (b"", "malformed"), (b"\xff\xfe", "malformed"), (b"[]", "malformed"),
    (memo(span=0), "malformed"), (memo(nonce="zz"), "malformed"),
    (memo(dev="ab" * 32), "wrong_device"), (memo(ch="dd" * 32), "unknown_stream"),
])
def test_refusals_refund_everything(raw, reason):
    d = decide(DEV, OFFERS, 50, raw, set())
    assert (d.sell, d.refund, d.reason) == (0, 50, reason)


def test_used_nonce_is_a_duplicate():
    d = decide(DEV, OFFERS, 21, memo(), {"00" * 16})
    assert (d.sell, d.refund, d.reason) == (0, 21, "duplicate")


@settings(max_examples=60, deadline=None)
@given(amount=st.integers(1, 10**6), span=st.integers(1, 500))
def test_value_is_conserved_and_span_never_exceeded(amount, span):
    d = decide(DEV, OFFERS, amount, memo(span), set())
    assert d.sell * OFFER.price + d.refund == amount
    assert 0 <= d.sell <= min(span, OFFER.max_span) and d.refund >= 0


def test_signed_document_round_trips_and_detects_edits():
    raw = sign_doc(SK, OFFER.body())
    body, signer = open_doc(raw, PK)
    assert Offer.from_body(body) == OFFER and signer == PK
    with pytest.raises(MalformedMessage):
        open_doc(raw.replace(b'"price":7', b'"price":1'))
    _, other = generate_ed25519()
    with pytest.raises(MalformedMessage, match="another key"):
        open_doc(raw, other)
