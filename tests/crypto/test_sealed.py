import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.crypto.sealed import (
    BOX_OVERHEAD,
    DecryptionError,
    InvalidKeyError,
    MalformedBoxError,
    generate_x25519,
    open_sealed,
    seal,
    x25519_public,
)

SK, PK = generate_x25519()


def test_round_trip_with_context():
    box = seal(PK, b"read key", b"stream:abc")
    assert open_sealed(SK, box, b"stream:abc") == b"read key"


def test_box_layout_is_ephemeral_key_nonce_ciphertext():
    box = seal(PK, b"hello")
    assert len(box) == BOX_OVERHEAD + 5
    assert box[:32] != PK  # an ephemeral key, not the recipient's


def test_two_seals_of_same_plaintext_differ():
    assert seal(PK, b"same") != seal(PK, b"same")


def test_public_key_derivation_matches():
    assert x25519_public(SK) == PK


def test_wrong_key_is_a_decryption_error():
    other_sk, _ = generate_x25519()
    with pytest.raises(DecryptionError):
        open_sealed(other_sk, seal(PK, b"secret"))


def test_wrong_context_is_a_decryption_error():
    with pytest.raises(DecryptionError):
        open_sealed(SK, seal(PK, b"secret", b"auction:1"), b"auction:2")


@pytest.mark.parametrize("position", [0, 31, 32, 43, 44, -1])
def test_any_flipped_byte_is_detected(position):
    box = bytearray(seal(PK, b"some plaintext"))
    box[position] ^= 0x01
    with pytest.raises(DecryptionError, match="does not authenticate"):
        open_sealed(SK, bytes(box))


def test_truncated_box_is_malformed():
    with pytest.raises(MalformedBoxError):
        open_sealed(SK, seal(PK, b"")[:-1])


def test_low_order_ephemeral_key_is_rejected_as_forgery():
    box = bytes(32) + bytes(12) + bytes(16)
    with pytest.raises(DecryptionError):
        open_sealed(SK, box)


@pytest.mark.parametrize("bad", [b"", b"\x01" * 31, b"\x01" * 33, "not bytes"])
def test_bad_recipient_key_length_is_invalid_key(bad):
    with pytest.raises(InvalidKeyError):
        seal(bad, b"x")


def test_errors_are_value_errors_and_exchange_errors():
    from exchange.errors import ExchangeError

    assert issubclass(DecryptionError, ValueError) and issubclass(DecryptionError, ExchangeError)


@settings(max_examples=40, deadline=None)
@given(plaintext=st.binary(max_size=2048), context=st.binary(max_size=64))
def test_round_trip_property(plaintext, context):
    assert open_sealed(SK, seal(PK, plaintext, context), context) == plaintext


@settings(max_examples=40, deadline=None)
@given(plaintext=st.binary(max_size=256), data=st.data())
def test_any_single_bit_flip_fails_property(plaintext, data):
    box = bytearray(seal(PK, plaintext))
    i = data.draw(st.integers(0, len(box) - 1))
    bit = data.draw(st.integers(0, 7))
    box[i] ^= 1 << bit
    with pytest.raises(DecryptionError):
        open_sealed(SK, bytes(box))
