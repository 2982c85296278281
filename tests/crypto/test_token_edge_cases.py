"""Access-token parsing edge cases found in the security review (each once failed or guards a boundary)."""

from __future__ import annotations

import base64

import pytest

from exchange.crypto.errors import TokenError, TokenFailure
from exchange.crypto.tokens import MAX_TOKEN_LEN, AccessClaims, generate_ed25519, issue_token, verify_token

SK, PK = generate_ed25519()
DEV = "ab" * 32
T0, T1 = 1_700_000_000, 1_700_000_000 + 30 * 86400


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _forged(body: bytes) -> str:
    return f"tb1.{_b64(body)}.{'A' * 86}"


@pytest.mark.parametrize("body", [
    b"[" * 2500,                      # nesting deeper than the interpreter's recursion limit
    b'{"device_id":' + b"[" * 2000,
    b"[" * 1100 + b"]" * 1100,
], ids=["open-arrays", "inside-an-object", "balanced-arrays"])
def test_deeply_nested_claims_are_malformed_not_a_crash(body):
    token = _forged(body)
    assert len(token) <= MAX_TOKEN_LEN
    with pytest.raises(TokenError) as err:
        verify_token(token, PK, device_id=DEV, now=T0)
    assert err.value.reason is TokenFailure.MALFORMED


@pytest.mark.parametrize(("field", "value", "message"), [
    ("device_id", DEV + "\n", "device id must be 64 hex digits"),
    ("device_id", "0x" + DEV + "\n", "device id must be 64 hex digits"),
    ("token_id", "cd" * 16 + "\n", "token_id must be 32 lower-case hex digits"),
], ids=["device-newline", "device-0x-newline", "token-id-newline"])
def test_ids_with_a_trailing_newline_are_refused(field, value, message):
    base = dict(device_id=DEV, auction_id=1, buyer="0xB", not_before=T0, not_after=T1)
    AccessClaims(**base)  # valid without the newline
    base[field] = value
    with pytest.raises(ValueError, match=message):
        AccessClaims(**base)


@pytest.mark.parametrize("other", [
    DEV[:-1] + "c",          # same 63-digit prefix
    "ab" * 16 + "00" * 16,   # same first half
    DEV[:2] + "00" * 31,
])
def test_token_for_a_device_sharing_a_prefix_is_wrong_device(other):
    token = issue_token(SK, AccessClaims(other, 1, "0xB", T0, T1))
    with pytest.raises(TokenError) as err:
        verify_token(token, PK, device_id=DEV, now=T0)
    assert err.value.reason is TokenFailure.WRONG_DEVICE


def _signed(body: bytes) -> str:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    sig = Ed25519PrivateKey.from_private_bytes(SK).sign(b"thingbid/access-token/v1\x00" + body)
    return f"tb1.{_b64(body)}.{_b64(sig)}"


_GOOD = AccessClaims(DEV, 1, "0xB\u00e9", T0, T1, "cd" * 16).canonical()


@pytest.mark.parametrize("body", [
    _GOOD.replace(b'"auction_id":1', b'"auction_id":2,"auction_id":1'),           # duplicate claim, last wins
    _GOOD.replace(b'"not_after":%d' % T1, b'"not_after":%d.0' % T1),               # float time
    _GOOD.replace(b'"not_before":%d' % T0, b'"not_before":-1'),                    # negative time
    _GOOD.replace(b'"not_after":%d' % T1, b'"not_after":%d' % 2**64),              # beyond uint64
    _GOOD.replace(b'"auction_id":1', b'"auction_id":true'),                         # bool as int
    _GOOD.replace(b"\\u00e9", "\u00e9".encode()),                                   # raw UTF-8, not escaped
    _GOOD.replace(b'"device_id":"' + DEV.encode(), b'"device_id":"' + DEV.upper().encode()),
    _GOOD.replace(b'{"', b'{ "', 1),                                                 # whitespace
    _GOOD.decode().encode("utf-16"),                                                 # another JSON encoding
], ids=["duplicate-claim", "float-time", "negative-time", "overflow-time", "bool-id", "raw-unicode",
        "upper-case-device", "whitespace", "utf-16"])
def test_signed_but_non_canonical_claims_are_malformed(body):
    assert body != _GOOD
    with pytest.raises(TokenError) as err:
        verify_token(_signed(body), PK, device_id=DEV, now=T0)
    assert err.value.reason is TokenFailure.MALFORMED


@pytest.mark.parametrize("mangle", [
    lambda t: t + "=",
    lambda t: t.replace(".", "=.", 2).replace("=.", ".", 1),
    lambda t: t + "==",
    lambda t: t.replace("-", "+").replace("_", "/") if ("-" in t or "_" in t) else t + "+",
    lambda t: t + "\u0660",
    lambda t: "\ufefftb1" + t[3:],
    lambda t: "TB1" + t[3:],
], ids=["padding-on-signature", "padding-on-claims", "double-padding", "standard-alphabet", "unicode-digit",
        "bom", "upper-case-prefix"])
def test_padded_or_re_encoded_token_text_is_malformed(mangle):
    good = _signed(_GOOD)
    assert verify_token(good, PK, device_id=DEV, now=T0).token_id == "cd" * 16
    with pytest.raises(TokenError) as err:
        verify_token(mangle(good), PK, device_id=DEV, now=T0)
    assert err.value.reason is TokenFailure.MALFORMED
