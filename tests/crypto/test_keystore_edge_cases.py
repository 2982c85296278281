"""Keystore files are not trusted to choose the KDF's cost: absurd work or memory is refused before any KDF runs."""

from __future__ import annotations

import json

import pytest

from exchange.crypto import keystore
from exchange.crypto.keystore import load_keys, save_keys
from exchange.errors import KeystoreError

FAST = 2**10


@pytest.fixture
def saved(tmp_path):
    return save_keys(tmp_path / "k.json", "pw", {"a": b"\x01" * 32}, scrypt_n=FAST)


@pytest.mark.parametrize(("n", "r", "p"), [
    (2**20, 32, 1),    # 4 GiB of memory
    (2**20, 8, 16),    # 16x the strongest file save_keys writes
    (2**17, 32, 16),
    (2**20, 16, 1),    # 2 GiB
], ids=["4GiB", "p16", "r32-p16", "2GiB"])
def test_costly_kdf_parameters_are_refused_before_deriving(saved, monkeypatch, n, r, p):
    doc = json.loads(saved.read_text())
    doc["kdf_params"].update(n=n, r=r, p=p)
    saved.write_text(json.dumps(doc))
    ran = []
    monkeypatch.setattr(keystore, "_kdf", lambda *a: ran.append(a) or b"\x00" * 32)
    with pytest.raises(KeystoreError, match="out of range"):
        load_keys(saved, "pw")
    assert not ran


def test_the_strongest_file_save_keys_writes_still_opens(tmp_path, monkeypatch):
    ran = []
    real = keystore._kdf
    monkeypatch.setattr(keystore, "_kdf", lambda pw, salt, n, r, p: ran.append((n, r, p)) or real(pw, salt, FAST, r, p))
    path = save_keys(tmp_path / "k.json", "pw", {"a": b"\x02" * 32}, scrypt_n=2**20)
    assert load_keys(path, "pw") == {"a": b"\x02" * 32}
    assert ran == [(2**20, 8, 1), (2**20, 8, 1)]
