"""Secrets of sealed bids (amount + salt) kept between commit and reveal, encrypted at rest.

A sealed bid that cannot be revealed is forfeited, so the salts must survive sign-out and
restarts (the web app and the client library keep them alike); they are written before the commit transaction is sent. The file is AES-256-GCM
under a key derived (HKDF) from the user's Ethereum key, with the address as associated data,
so only that user, signed in, can read it.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from exchange.crypto.errors import DecryptionError
from exchange.crypto.userkeys import _derive

_LOCK = threading.Lock()


@dataclass(frozen=True)
class StoredBid:
    auction_id: int
    amount: int
    salt: str  # hex
    deposit: int


class SealedStore:
    def __init__(self, directory: Path, address: str, eth_key: bytes):
        self.path = Path(directory) / f"{address.lower()}.sealed"
        self.aad = address.lower().encode()
        self.key = _derive(eth_key, b"sealed bid secrets")

    def load(self) -> dict[int, StoredBid]:
        if not self.path.exists():
            return {}
        raw = self.path.read_bytes()
        try:
            data = json.loads(AESGCM(self.key).decrypt(raw[:12], raw[12:], self.aad))
        except (InvalidTag, ValueError) as exc:
            raise DecryptionError(f"sealed-bid secrets in {self.path.name} do not open: {exc}") from exc
        return {int(d["auction_id"]): StoredBid(**d) for d in data}

    def _save(self, bids: dict[int, StoredBid]) -> None:
        nonce = os.urandom(12)
        body = json.dumps([asdict(b) for b in bids.values()]).encode()
        blob = nonce + AESGCM(self.key).encrypt(nonce, body, self.aad)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
        os.replace(tmp, self.path)

    def add(self, bids) -> None:
        """Remember ``exchange.chain.auction.SealedBid``s (replacing older ones for the same auction)."""
        with _LOCK:
            cur = self.load()
            for b in bids:
                cur[b.auction_id] = StoredBid(b.auction_id, b.amount, bytes(b.salt).hex(), b.deposit)
            self._save(cur)

    def sealed_bids(self, auction_ids) -> list:
        from exchange.chain.auction import SealedBid

        cur = self.load()
        return [SealedBid(a, cur[a].amount, bytes.fromhex(cur[a].salt), cur[a].deposit)
                for a in auction_ids if a in cur]
