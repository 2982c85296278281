"""The device identity: keys encrypted at rest, wrong passwords refused, never overwritten."""

from __future__ import annotations

import os
import stat

import pytest

from device_agent.errors import NotInitialisedError
from device_agent.identity import DEVICE_KEYS, ETH_KEYSTORE, create_identity, load_identity
from exchange.errors import KeystoreError


@pytest.fixture
def ident(tmp_path):
    return create_identity(tmp_path / "dev", "pw-1", scrypt_n=2**8)


def test_keys_are_encrypted_at_rest(ident):
    secrets = [ident.x25519_private, ident.ed25519_private, ident.device_secret, ident.tangle_seed,
               ident.eth_private_key()]
    for name in (DEVICE_KEYS, ETH_KEYSTORE):
        raw = (ident.data_dir / name).read_bytes()
        mode = stat.S_IMODE(os.stat(ident.data_dir / name).st_mode)
        assert mode == 0o600, name
        for s in secrets:
            assert s not in raw and s.hex().encode() not in raw


def test_reload_gives_the_same_identity(ident):
    again = load_identity(ident.data_dir, "pw-1")
    assert (again.device_id, again.address, again.ed25519_public, again.x25519_public) == \
        (ident.device_id, ident.address, ident.ed25519_public, ident.x25519_public)


def test_wrong_password_is_refused(ident):
    with pytest.raises(KeystoreError, match="wrong password"):
        load_identity(ident.data_dir, "pw-2")


def test_an_existing_identity_is_never_overwritten(ident):
    before = (ident.data_dir / DEVICE_KEYS).read_bytes()
    with pytest.raises(KeystoreError, match="refusing to overwrite"):
        create_identity(ident.data_dir, "pw-1", scrypt_n=2**8)
    assert (ident.data_dir / DEVICE_KEYS).read_bytes() == before


def test_missing_identity_says_run_init(tmp_path):
    with pytest.raises(NotInitialisedError, match="device-agent init"):
        load_identity(tmp_path / "nothing", "pw")


def test_empty_password_is_refused(tmp_path):
    with pytest.raises(KeystoreError, match="a password is needed"):
        create_identity(tmp_path / "x", "", scrypt_n=2**8)
    assert not (tmp_path / "x" / DEVICE_KEYS).exists() and not (tmp_path / "x" / ETH_KEYSTORE).exists()
