import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.crypto.errors import TokenError, TokenFailure
from exchange.crypto.tokens import AccessClaims, generate_ed25519, issue_token, verify_token

SK, PK = generate_ed25519()
DEV = "ab" * 32
T0, T1 = 1_700_000_000, 1_700_000_000 + 30 * 86400


def claims(**over):
    base = dict(device_id=DEV, auction_id=7, buyer="0x" + "12" * 20, not_before=T0, not_after=T1)
    base.update(over)
    return AccessClaims(**base)


def check(token, now=T0 + 10, device_id=DEV, pk=PK, revoked=None):
    return verify_token(token, pk, device_id=device_id, now=now, revoked=revoked)


def reason(fn):
    with pytest.raises(TokenError) as err:
        fn()
    return err.value.reason


def test_valid_token_returns_its_claims():
    c = claims()
    tok = issue_token(SK, c)
    assert check(tok) == c
    assert all(ch.isalnum() or ch in "-_." for ch in tok)


def test_device_id_accepts_0x_and_upper_case_and_bytes():
    tok = issue_token(SK, claims(device_id="0x" + DEV.upper()))
    assert check(tok, device_id=bytes.fromhex(DEV)).device_id == DEV


@pytest.mark.parametrize("now, expected", [
    (T0 - 1, TokenFailure.NOT_YET_VALID),
    (T1, TokenFailure.EXPIRED),
    (T1 + 1, TokenFailure.EXPIRED),
])
def test_outside_window_is_refused(now, expected):
    tok = issue_token(SK, claims())
    assert reason(lambda: check(tok, now=now)) == expected


@pytest.mark.parametrize("now", [T0, T1 - 1])
def test_window_boundaries_inside_are_valid(now):
    assert check(issue_token(SK, claims()), now=now).auction_id == 7


def test_other_device_key_is_bad_signature():
    _, other_pk = generate_ed25519()
    assert reason(lambda: check(issue_token(SK, claims()), pk=other_pk)) == TokenFailure.BAD_SIGNATURE


def test_token_for_another_device_is_wrong_device():
    tok = issue_token(SK, claims(device_id="cd" * 32))
    assert reason(lambda: check(tok)) == TokenFailure.WRONG_DEVICE


def test_revoked_token_is_refused():
    c = claims()
    assert reason(lambda: check(issue_token(SK, c), revoked={c.token_id})) == TokenFailure.REVOKED
    assert check(issue_token(SK, c), revoked={"00" * 16}) == c


def test_edited_claims_break_the_signature():
    import base64

    tok = issue_token(SK, claims())
    _, body, sig = tok.split(".")
    raw = base64.urlsafe_b64decode(body + "==").replace(b'"auction_id":7', b'"auction_id":8')
    forged = "tb1." + base64.urlsafe_b64encode(raw).rstrip(b"=").decode() + "." + sig
    assert reason(lambda: check(forged)) == TokenFailure.BAD_SIGNATURE


@pytest.mark.parametrize("bad", [
    "", "tb1", "tb1..", "tb2.e30.AAAA", "tb1.e30.AAAA", "tb1.!!!.AAAA", "x" * 5000,
    "tb1.eyJhIjoxfQ." + "A" * 86,  # wrong fields
])
def test_malformed_tokens_are_refused(bad):
    assert reason(lambda: check(bad)) == TokenFailure.MALFORMED


def test_non_canonical_claims_are_malformed():
    import base64
    import json

    c = claims()
    body = json.dumps(json.loads(c.canonical()), indent=1).encode()
    sig = SK and __import__("cryptography.hazmat.primitives.asymmetric.ed25519", fromlist=["x"]) \
        .Ed25519PrivateKey.from_private_bytes(SK).sign(b"thingbid/access-token/v1\x00" + body)
    tok = "tb1." + base64.urlsafe_b64encode(body).rstrip(b"=").decode() + "." + \
        base64.urlsafe_b64encode(sig).rstrip(b"=").decode()
    assert reason(lambda: check(tok)) == TokenFailure.MALFORMED


@pytest.mark.parametrize(("over", "message"), [
    ({"device_id": "ab" * 31}, "device id must be 64 hex digits"),
    ({"device_id": "zz" * 32}, "device id must be 64 hex digits"),
    ({"auction_id": -1}, r"auction_id must be an integer in \[0, 2\^64\), got -1"),
    ({"auction_id": True}, r"auction_id must be an integer in \[0, 2\^64\), got True"),
    ({"not_after": T0}, r"not_after \(1700000000\) must be after not_before"),
    ({"buyer": ""}, "buyer must be 1..128 printable characters"),
    ({"buyer": "a\nb"}, "buyer must be 1..128 printable characters"),
    ({"token_id": "short"}, "token_id must be 32 lower-case hex digits"),
])
def test_bad_claims_are_rejected_at_construction(over, message):
    with pytest.raises(ValueError, match=message):
        claims(**over)


@settings(max_examples=30, deadline=None)
@given(auction=st.integers(0, 2**64 - 1), start=st.integers(0, 2**40), length=st.integers(1, 2**30),
       buyer=st.text(st.characters(codec="utf-8", exclude_categories=("C", "Z")), min_size=1, max_size=60))
def test_issue_verify_round_trip_property(auction, start, length, buyer):
    c = claims(auction_id=auction, not_before=start, not_after=start + length, buyer=buyer)
    assert verify_token(issue_token(SK, c), PK, device_id=DEV, now=start) == c


def test_read_claims_unverified_returns_claims_and_rejects_malformed():
    from exchange.crypto.tokens import read_claims_unverified

    sk, _ = generate_ed25519()
    claims = AccessClaims(device_id="0x" + "ab" * 32, auction_id=7, buyer="0x" + "11" * 20, not_before=10, not_after=20)
    assert read_claims_unverified(issue_token(sk, claims)) == claims
    with pytest.raises(TokenError) as err:
        read_claims_unverified("tb1.not-base64!.x")
    assert err.value.reason is TokenFailure.MALFORMED
