"""The device's identity: an Ethereum account and X25519/Ed25519 keys, all encrypted at rest.

- ``eth-keystore.json``: the standard eth-account keystore (the device's owner account on chain;
  one per device, so two devices of one owner share no address).
- ``device-keys.json``: an exchange.crypto key file holding the X25519 key (sealed deliveries
  to the device), the Ed25519 key (signs access tokens and stream messages), the per-device
  secret behind the device key (whose address is the pseudonymous id, see anonymise.py),
  and the tangle wallet seed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from device_agent.anonymise import device_key, new_device_secret
from device_agent.errors import NotInitialisedError
from exchange.chain.connect import create_keystore, load_keystore
from exchange.crypto import (
    ed25519_public,
    generate_ed25519,
    generate_x25519,
    load_keys,
    save_keys,
    x25519_public,
)
from exchange.errors import KeystoreError

ETH_KEYSTORE = "eth-keystore.json"
DEVICE_KEYS = "device-keys.json"


@dataclass
class Identity:
    data_dir: Path
    address: str
    x25519_private: bytes = field(repr=False)
    ed25519_private: bytes = field(repr=False)
    device_secret: bytes = field(repr=False)
    tangle_seed: bytes = field(repr=False)
    password: str = field(repr=False, default="")

    @property
    def x25519_public(self) -> bytes:
        return x25519_public(self.x25519_private)

    @property
    def ed25519_public(self) -> bytes:
        return ed25519_public(self.ed25519_private)

    @property
    def device_key(self):
        """The device key (exchange.chain.devicekey.DeviceKey): proves control of the device id."""
        return device_key(self.device_secret)

    @property
    def device_id(self) -> bytes:
        return self.device_key.device_id

    @property
    def device_id_hex(self) -> str:
        return self.device_id.hex()

    @property
    def eth_keystore(self) -> Path:
        return self.data_dir / ETH_KEYSTORE

    def eth_private_key(self) -> bytes:
        """Decrypt the Ethereum key (kept in memory by the caller only as long as needed)."""
        return bytes(load_keystore(self.eth_keystore, self.password).key)


def exists(data_dir: Path) -> bool:
    return (Path(data_dir) / DEVICE_KEYS).exists()


def create_identity(data_dir: Path, password: str, *, eth_private_key: bytes | None = None,
                    scrypt_n: int | None = None) -> Identity:
    """Make new keys in ``data_dir``; refuses to overwrite an existing identity.

    ``scrypt_n`` lowers the KDF cost of both key files (default: the libraries' strong defaults).
    """
    data_dir = Path(data_dir)
    if exists(data_dir) or (data_dir / ETH_KEYSTORE).exists():
        raise KeystoreError(f"{data_dir} already holds a device identity; refusing to overwrite it")
    if not password:
        raise KeystoreError("a password is needed to encrypt the device keys")
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    if scrypt_n:
        address = _fast_eth_keystore(data_dir / ETH_KEYSTORE, password, eth_private_key, scrypt_n)
    else:
        address = create_keystore(data_dir / ETH_KEYSTORE, password, eth_private_key)
    x_sk, _ = generate_x25519()
    e_sk, _ = generate_ed25519()
    keys = {"address": address.encode(), "x25519": x_sk, "ed25519": e_sk, "device_secret": new_device_secret(),
            "tangle_seed": os.urandom(32)}
    kwargs = {"scrypt_n": scrypt_n} if scrypt_n else {}
    save_keys(data_dir / DEVICE_KEYS, password, keys, **kwargs)
    return Identity(data_dir, address, x_sk, e_sk, keys["device_secret"], keys["tangle_seed"], password)


def _fast_eth_keystore(path: Path, password: str, private_key: bytes | None, n: int) -> str:
    """A standard keystore with a cheaper scrypt (tests, demos with many simulated devices)."""
    from eth_account import Account

    acct = Account.from_key(private_key) if private_key else Account.create()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(Account.encrypt(acct.key, password, iterations=n), fh)
    return acct.address


def load_identity(data_dir: Path, password: str) -> Identity:
    data_dir = Path(data_dir)
    if not exists(data_dir):
        raise NotInitialisedError(f"no device identity in {data_dir}: run `device-agent init`")
    keys = load_keys(data_dir / DEVICE_KEYS, password)
    try:
        return Identity(data_dir, keys["address"].decode(), keys["x25519"], keys["ed25519"], keys["device_secret"],
                        keys["tangle_seed"], password)
    except KeyError as exc:
        raise KeystoreError(f"{data_dir / DEVICE_KEYS} lacks the key {exc.args[0]!r}") from exc
