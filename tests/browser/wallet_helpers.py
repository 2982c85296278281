"""Helpers for the wallet browser tests: the key the browser derives, and where secrets could leak.

The injected wallet itself is ``frontend.devwallet`` (the benchmark uses it too). A unique module
name: tests/ is not a package.
"""

from __future__ import annotations

import logging
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from eth_account import Account
from eth_account.messages import encode_defunct

# frontend/js/wallet.js KEY_MESSAGE, restated: the derivation is a format, the same on every machine.
KEY_MESSAGE = ("Thingbid key-delivery key, version 1.\n\n"
               "Signing this derives the key that opens the data-access keys devices seal to you. "
               "It costs nothing and moves no funds; the signature never leaves your browser. "
               "Anyone holding this signature can read your delivered keys: sign it only on a Thingbid site.")


def delivery_key_of(private_key: str) -> bytes:
    """The X25519 private key a wallet holding ``private_key`` derives in the browser (HKDF over its signature)."""
    sig = Account.from_key(private_key).sign_message(encode_defunct(text=KEY_MESSAGE)).signature
    return HKDF(hashes.SHA256(), 32, salt=b"thingbid/wallet-key/v1", info=b"x25519 key delivery").derive(bytes(sig))


def _wallet_secret(private_key: str, info: bytes) -> bytes:
    sig = Account.from_key(private_key).sign_message(encode_defunct(text=KEY_MESSAGE)).signature
    return HKDF(hashes.SHA256(), 32, salt=b"thingbid/wallet-key/v1", info=info).derive(bytes(sig))


def sealed_salt_of(private_key: str, chain_id: int, house: str, auction_id: int) -> bytes:
    """The salt the browser derives for a sealed bid of this wallet (frontend/js/wallet.js sealedSalt)."""
    import hmac

    msg = (b"thingbid/sealed-salt/v1\0" + chain_id.to_bytes(32, "big") + bytes.fromhex(house[2:])
           + auction_id.to_bytes(32, "big"))
    return hmac.new(_wallet_secret(private_key, b"sealed-bid salts"), msg, "sha256").digest()


def sealed_amount_of(private_key: str, chain_id: int, house: str, auction_id: int, box: bytes) -> int:
    """Open an amount box the browser sealed (AES-GCM bound to chain, house, bidder and auction)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    bidder = Account.from_key(private_key).address
    aad = (b"thingbid/sealed-amount/v1\0" + chain_id.to_bytes(32, "big") + bytes.fromhex(house[2:])
           + bytes.fromhex(bidder[2:]) + auction_id.to_bytes(32, "big"))
    plain = AESGCM(_wallet_secret(private_key, b"sealed-bid amounts")).decrypt(box[:12], box[12:], aad)
    return int.from_bytes(plain, "big")


def tangle_wallet_of(private_key: str):
    """The tangle wallet a wallet session derives in the browser (Ed25519 key from the same signature)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from exchange.tangle.wallet import Wallet

    return Wallet(Ed25519PrivateKey.from_private_bytes(_wallet_secret(private_key, b"tangle ed25519 key")))


def wallet_secrets_of(private_key: str) -> list[str]:
    """Every secret a wallet session derives in the browser: the delivery key, the sealed-bid keys, the tangle key."""
    return [delivery_key_of(private_key).hex(), _wallet_secret(private_key, b"sealed-bid salts").hex(),
            _wallet_secret(private_key, b"sealed-bid amounts").hex(),
            _wallet_secret(private_key, b"tangle ed25519 key").hex()]


class LogKeeper(logging.Handler):
    """Every log record anyone writes while installed (formatted, arguments included)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[str] = []

    def emit(self, record):
        try:
            self.records.append(record.getMessage() + repr(record.__dict__.get("args")))
        except Exception:  # noqa: BLE001 - a record that does not format still counts as seen
            self.records.append(repr(record.__dict__))

    def lines(self) -> list[str]:
        return list(self.records)


def secrets_found(secrets: list[str], requests: list[bytes], logs: list[str], directory: Path) -> list[str]:
    """Where any secret (hex with or without 0x, or text) shows up: request, log line or file under ``directory``."""
    needles, raw = set(), set()
    for s in secrets:
        s = s.lower()
        needles.add(s)
        bare = s.removeprefix("0x")
        needles.add(bare)
        if len(bare) % 2 == 0 and all(c in "0123456789abcdef" for c in bare):
            raw.add(bytes.fromhex(bare))  # the same secret stored as bytes
    found = []
    for i, r in enumerate(requests):
        low = r.lower()
        found += [f"request {i}: {n[:12]}…" for n in needles if n.encode() in low]
    for i, line in enumerate(logs):
        low = line.lower()
        found += [f"log {i}: {n[:12]}…" for n in needles if n in low]
    for f in directory.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            found += [f"file {f.name}: {n[:12]}…" for n in needles if n.encode() in data.lower()]
            found += [f"file {f.name}: raw {b[:4].hex()}…" for b in raw if b in data]
    return found


class RequestRecorder:
    """WSGI middleware keeping every request the app receives (line, headers, body), to search for secrets."""

    def __init__(self, wsgi_app):
        self.inner = wsgi_app
        self.seen: list[bytes] = []

    def __call__(self, environ, start_response):
        import io

        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        head = [f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')}?{environ.get('QUERY_STRING', '')}"]
        head += [f"{k}: {v}" for k, v in environ.items() if k.startswith("HTTP_")]
        self.seen.append("\n".join(head).encode() + b"\n\n" + body)
        return self.inner(environ, start_response)

    def holds(self, *needles: bytes) -> list[bytes]:
        """Every request containing any needle (case-insensitive)."""
        low = [n.lower() for n in needles if n]
        return [r for r in self.seen if any(n in r.lower() for n in low)]
