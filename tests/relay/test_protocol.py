"""The relay's pure wire logic: frames, hellos, pseudonyms, backoff."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.crypto import generate_ed25519
from exchange.relay.protocol import (
    MAX_BACKOFF_S,
    MIN_BACKOFF_S,
    RelayProtocolError,
    backoff_delay,
    decode_frame,
    encode_frame,
    new_nonce,
    parse_answer,
    parse_pseudonym,
    sign_hello,
    verify_hello,
)

DEVICE = bytes(range(32))


@given(st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=20), max_size=5), st.binary(max_size=2000))
def test_frames_round_trip(extra, body):
    header = {**extra, "t": "res"}
    frame = decode_frame(encode_frame(header, body))
    assert (frame.header, frame.body) == (header, body)


@given(st.binary(max_size=64))
def test_garbage_never_decodes_into_anything_but_a_protocol_error(data):
    try:
        decode_frame(data)
    except RelayProtocolError:
        pass


def test_hello_verifies_only_with_the_registered_key_for_this_relay_and_nonce():
    sk, pk = generate_ed25519()
    nonce = new_nonce()
    sig = sign_hello(sk, "relay-a", nonce, DEVICE)
    verify_hello(pk, "relay-a", nonce, DEVICE, sig)
    other_sk, other_pk = generate_ed25519()
    for args in [(other_pk, "relay-a", nonce, DEVICE), (pk, "relay-b", nonce, DEVICE),
                 (pk, "relay-a", new_nonce(), DEVICE), (pk, "relay-a", nonce, bytes(32)), (bytes(32), "relay-a", nonce, DEVICE)]:
        with pytest.raises(RelayProtocolError):
            verify_hello(*args, sig)


@pytest.mark.parametrize("header", [
    {"t": "res"}, {"t": "res", "id": "1", "s": 200}, {"t": "res", "id": 1, "s": 99}, {"t": "req", "id": 1, "s": 200},
    {"t": "res", "id": 1, "s": 200, "h": [["X", "a\r\nInjected: 1"]]}, {"t": "res", "id": 1, "s": 200, "h": [["X:Y", "a"]]},
    {"t": "res", "id": 1, "s": 200, "h": [["X"]]}, {"t": "res", "id": True, "s": 200},
])
def test_malformed_answers_are_refused(header):
    with pytest.raises(RelayProtocolError):
        parse_answer(decode_frame(encode_frame(header)))


def test_answers_lose_hop_by_hop_headers():
    ans = parse_answer(decode_frame(encode_frame({"t": "res", "id": 3, "s": 200, "h": [
        ["Content-Type", "application/json"], ["Transfer-Encoding", "chunked"], ["Content-Length", "999"]]}, b"{}")))
    assert ans.headers == [("Content-Type", "application/json")] and ans.body == b"{}"


@pytest.mark.parametrize("text", ["", "ab", "AB" * 32, "g" * 64, "ab" * 32 + "\n", " " + "ab" * 31 + "a"])
def test_malformed_pseudonyms_are_refused(text):
    with pytest.raises(RelayProtocolError):
        parse_pseudonym(text)


@given(st.integers(min_value=0, max_value=10_000), st.floats(min_value=0, max_value=1, exclude_max=True))
def test_backoff_stays_between_50_ms_and_its_1_s_cap(attempt, rand):
    assert MIN_BACKOFF_S <= backoff_delay(attempt, rand) <= MAX_BACKOFF_S


def test_backoff_grows_with_the_attempt():
    assert backoff_delay(0, 0.999) < 0.051 and backoff_delay(3, 0.999) > 0.35 and backoff_delay(40, 0.999) > 0.99 and MAX_BACKOFF_S == 1.0
