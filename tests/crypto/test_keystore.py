import json

import pytest

from exchange.crypto.keystore import load_keys, save_keys
from exchange.crypto.sealed import generate_x25519
from exchange.crypto.tokens import generate_ed25519
from exchange.errors import KeystoreError

FAST = 2**10  # keep the KDF cheap in tests; the default is 2^15


@pytest.fixture
def bundle():
    return {"x25519": generate_x25519()[0], "ed25519": generate_ed25519()[0]}


def test_round_trip_and_private_mode(tmp_path, bundle):
    p = save_keys(tmp_path / "k.json", "pw", bundle, scrypt_n=FAST)
    assert p.stat().st_mode & 0o777 == 0o600
    assert load_keys(p, "pw") == bundle


def test_file_holds_no_plaintext_key_or_name(tmp_path, bundle):
    p = save_keys(tmp_path / "k.json", "pw", bundle, scrypt_n=FAST)
    text = p.read_text()
    assert bundle["x25519"].hex() not in text and "ed25519" not in text


def test_wrong_password_is_keystore_error(tmp_path, bundle):
    p = save_keys(tmp_path / "k.json", "pw", bundle, scrypt_n=FAST)
    with pytest.raises(KeystoreError, match="wrong password"):
        load_keys(p, "PW")


def test_missing_file_and_missing_password(tmp_path, bundle):
    with pytest.raises(KeystoreError, match="does not exist"):
        load_keys(tmp_path / "nope.json", "pw")
    with pytest.raises(KeystoreError, match="password missing"):
        save_keys(tmp_path / "k.json", "", bundle)


@pytest.mark.parametrize("edit", [
    lambda d: d["kdf_params"].update(n=2**11),
    lambda d: d.update(ciphertext="00" + d["ciphertext"][2:]),
    lambda d: d["kdf_params"].update(salt="00" * 16),
])
def test_edited_file_does_not_open(tmp_path, bundle, edit):
    p = save_keys(tmp_path / "k.json", "pw", bundle, scrypt_n=FAST)
    doc = json.loads(p.read_text())
    edit(doc)
    p.write_text(json.dumps(doc))
    with pytest.raises(KeystoreError, match="wrong password"):  # the edit is detected, not mis-parsed
        load_keys(p, "pw")


@pytest.mark.parametrize(("content", "reason"), [
    ("", "not readable JSON"), ("[]", "is malformed"), ("{}", "is malformed"), ('{"version": 1}', "is malformed"),
    ("not json", "not readable JSON"),
    ('{"version":1,"kdf":"scrypt","cipher":"aes-256-gcm","kdf_params":'
     '{"n":1073741824,"r":8,"p":1,"salt":"00"},"nonce":"00","ciphertext":"00"}', "KDF parameters out of range"),
])
def test_garbled_file_is_keystore_error(tmp_path, content, reason):
    p = tmp_path / "k.json"
    p.write_text(content)
    with pytest.raises(KeystoreError, match=reason):
        load_keys(p, "pw")


def test_overwrite_replaces_atomically(tmp_path, bundle):
    p = tmp_path / "k.json"
    save_keys(p, "pw", {"a": b"1"}, scrypt_n=FAST)
    save_keys(p, "pw2", bundle, scrypt_n=FAST)
    assert load_keys(p, "pw2") == bundle
    assert [f.name for f in tmp_path.iterdir()] == ["k.json"]
