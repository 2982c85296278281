"""Password-encrypted key files for bundles of raw keys (X25519, Ed25519, ...).

File: JSON ``{"version":1,"kdf":"scrypt","kdf_params":{"n","r","p","salt"},
"cipher":"aes-256-gcm","nonce","ciphertext"}`` written with mode 0600. The key names are
inside the ciphertext, and the header (KDF parameters) is the GCM associated data, so
editing any field makes the file fail to open instead of silently weakening it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from exchange.errors import KeystoreError

__all__ = ["save_keys", "load_keys", "KeystoreError"]

VERSION = 1
DEFAULT_SCRYPT_N = 2**15
_MAX_N = 2**20  # refuse files asking for absurd work/memory


def _kdf(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(password.encode())


def _header(params: dict) -> bytes:
    return json.dumps({"version": VERSION, "kdf": "scrypt", "kdf_params": params, "cipher": "aes-256-gcm"},
                      sort_keys=True, separators=(",", ":")).encode()


def save_keys(path: str | os.PathLike, password: str, keys: dict[str, bytes], *,
              scrypt_n: int = DEFAULT_SCRYPT_N) -> Path:
    """Encrypt ``keys`` (name -> raw bytes) under ``password`` into ``path`` (mode 0600, atomic)."""
    if not isinstance(password, str) or not password:
        raise KeystoreError("keystore password missing")
    if not isinstance(keys, dict) or not all(isinstance(k, str) and isinstance(v, bytes | bytearray)
                                             for k, v in keys.items()):
        raise KeystoreError("keys must map names to bytes")
    if scrypt_n < 2 or scrypt_n & (scrypt_n - 1) or scrypt_n > _MAX_N:
        raise KeystoreError("scrypt n must be a power of two <= 2^20")
    path = Path(path)
    params = {"n": scrypt_n, "r": 8, "p": 1, "salt": os.urandom(16).hex()}
    key = _kdf(password, bytes.fromhex(params["salt"]), scrypt_n, 8, 1)
    nonce = os.urandom(12)
    plain = json.dumps({k: bytes(v).hex() for k, v in keys.items()}, sort_keys=True).encode()
    doc = json.loads(_header(params))
    doc.update(nonce=nonce.hex(), ciphertext=AESGCM(key).encrypt(nonce, plain, _header(params)).hex())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh, indent=1, sort_keys=True)
        os.chmod(tmp, 0o600)  # umask cannot widen it, but an existing tmp might have had other bits
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def load_keys(path: str | os.PathLike, password: str) -> dict[str, bytes]:
    """Decrypt a key file; KeystoreError on a missing/garbled file or wrong password."""
    path = Path(path)
    if not isinstance(password, str) or not password:
        raise KeystoreError("keystore password missing")
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise KeystoreError(f"keystore {path} does not exist") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KeystoreError(f"keystore {path} is not readable JSON") from exc
    try:
        if doc["version"] != VERSION or doc["kdf"] != "scrypt" or doc["cipher"] != "aes-256-gcm":
            raise KeystoreError(f"keystore {path}: unsupported format")
        params = doc["kdf_params"]
        n, r, p = params["n"], params["r"], params["p"]
        # Memory is 128*n*r bytes and work n*r*p: never more than the strongest file save_keys writes
        # (n=2^20, r=8, p=1: 1 GiB), whatever each bound alone would allow.
        if not all(type(x) is int for x in (n, r, p)) or not (2 <= n <= _MAX_N and 1 <= r <= 32 and 1 <= p <= 16) \
                or n * r * p > _MAX_N * 8:
            raise KeystoreError(f"keystore {path}: KDF parameters out of range")
        salt, nonce, ct = (bytes.fromhex(params["salt"]), bytes.fromhex(doc["nonce"]),
                           bytes.fromhex(doc["ciphertext"]))
        if len(nonce) != 12:
            raise KeystoreError(f"keystore {path}: bad nonce")
        key = _kdf(password, salt, n, r, p)
    except KeystoreError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise KeystoreError(f"keystore {path} is malformed ({exc})") from exc
    try:
        plain = AESGCM(key).decrypt(nonce, ct, _header(params))
    except InvalidTag as exc:
        raise KeystoreError(f"keystore {path}: wrong password (or the file was modified)") from exc
    return {k: bytes.fromhex(v) for k, v in json.loads(plain).items()}
