"""Ed25519 wallets: addresses, an encrypted keystore file, send/publish/history via a node.

Keystore: JSON {"version":1,"kind":"thingbid-tangle-wallet","address","kdf":"scrypt",
"n","r","p","salt","nonce","ciphertext"}; the 32-byte private key is sealed with AES-256-GCM
under a scrypt-derived key, the header is the associated data (any edit fails to open).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from exchange.errors import KeystoreError
from exchange.tangle import tx as txm
from exchange.tangle.client import TangleClient
from exchange.tangle.errors import TangleRejected

SCRYPT_N = 2**14


class Wallet:
    def __init__(self, key: Ed25519PrivateKey):
        self._key = key
        self.public_key = txm.public_bytes(key)
        self.address = txm.address_of(self.public_key)
        self._info: dict[str, dict] = {}

    @classmethod
    def generate(cls) -> Wallet:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Wallet:
        return cls(txm.key_from_seed(seed))

    def __repr__(self) -> str:  # never show the key
        return f"Wallet({self.address})"

    # ------------------------------------------------------------ keystore

    def save(self, path: str | os.PathLike, password: str) -> Path:
        if not isinstance(password, str) or not password:
            raise KeystoreError("a non-empty password is needed to save a wallet")
        salt, nonce = os.urandom(16), os.urandom(12)
        head = {"version": 1, "kind": "thingbid-tangle-wallet", "address": self.address, "kdf": "scrypt",
                "n": SCRYPT_N, "r": 8, "p": 1, "salt": salt.hex()}
        aad = json.dumps(head, sort_keys=True).encode()
        k = Scrypt(salt=salt, length=32, n=SCRYPT_N, r=8, p=1).derive(password.encode())
        raw = self._key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                      serialization.NoEncryption())
        ct = AESGCM(k).encrypt(nonce, raw, aad)
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({**head, "nonce": nonce.hex(), "ciphertext": ct.hex()}, f)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, password: str) -> Wallet:
        try:
            d = json.loads(Path(path).read_text())
            head = {k: d[k] for k in ("version", "kind", "address", "kdf", "n", "r", "p", "salt")}
            if head["kind"] != "thingbid-tangle-wallet" or head["version"] != 1 or not 2 <= head["n"] <= 2**20:
                raise KeystoreError(f"{path}: not a thingbid tangle wallet")
            k = Scrypt(salt=bytes.fromhex(head["salt"]), length=32, n=head["n"], r=head["r"],
                       p=head["p"]).derive(password.encode())
            raw = AESGCM(k).decrypt(bytes.fromhex(d["nonce"]), bytes.fromhex(d["ciphertext"]),
                                    json.dumps(head, sort_keys=True).encode())
        except FileNotFoundError:
            raise KeystoreError(f"wallet file {path} does not exist") from None
        except InvalidTag:
            raise KeystoreError(f"{path}: wrong password or tampered file") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise KeystoreError(f"{path}: unreadable wallet file ({exc})") from None
        w = cls(Ed25519PrivateKey.from_private_bytes(raw))
        if w.address != head["address"]:
            raise KeystoreError(f"{path}: address does not match the key")
        return w

    # ------------------------------------------------------------ building

    def _params(self, client: TangleClient) -> dict:
        p = self._info.get(client.base_url)
        if p is None:
            p = self._info[client.base_url] = client.info()
        return p

    def build(self, client: TangleClient, kind: int, payload: bytes, extra_parents=()) -> bytes:
        info = self._params(client)
        parents = sorted({*client.tips(), *extra_parents})[: txm.MAX_PARENTS]
        if len(parents) < txm.MIN_PARENTS:
            parents = parents * 2
        return txm.build(self._key, kind, payload, parents, network=info["network"],
                         difficulty=info["pow_difficulty"])

    def transfer_bytes(self, client: TangleClient, to: str, amount: int, memo: bytes = b"",
                       sequence: int | None = None) -> bytes:
        """A signed transfer carrying the next sequence; it approves our own last pending transfer
        so the milestone order applies our transfers in sequence."""
        acct = client.account(self.address)
        seq = acct["next_sequence"] if sequence is None else sequence
        extra = [acct["last_pending"]] if acct.get("last_pending") else []
        return self.build(client, txm.VALUE, txm.value_payload(to, amount, seq, memo), extra)

    def _more_pow_asked(self, client: TangleClient, exc: TangleRejected) -> bool:
        """The node's difficulty rose with its load (``spam``): learn the new one."""
        if exc.status == 400 and "insufficient proof of work" in exc.reason:
            self._info.pop(client.base_url, None)
            return True
        return False

    def send(self, client: TangleClient, to: str, amount: int, memo: bytes = b"") -> str:
        for attempt in range(3):
            try:
                return client.submit(self.transfer_bytes(client, to, amount, memo))
            except TangleRejected as exc:
                if attempt == 2 or not self._more_pow_asked(client, exc):
                    raise

    def _submit_message(self, client: TangleClient, kind: int, payload: bytes) -> str:
        # the same message twice within one millisecond over the same tips has the same signed
        # content, which the node refuses as a replay; a republish is meant, so rebuild it
        attempt = 0
        while True:
            try:
                return client.submit(self.build(client, kind, payload))
            except TangleRejected as exc:
                attempt += 1
                if attempt >= 3 or not (self._more_pow_asked(client, exc)
                                        or (exc.status == 409 and "re-mined" in exc.reason)):
                    raise
                time.sleep(0.002)

    def publish(self, client: TangleClient, tag: str, data: bytes) -> str:
        return self._submit_message(client, txm.DATA, txm.data_payload(tag, data))

    def publish_stream(self, client: TangleClient, channel: str, data: bytes) -> str:
        return self._submit_message(client, txm.STREAM, txm.stream_payload(channel, data))

    def balance(self, client: TangleClient) -> int:
        return client.balance(self.address)

    def history(self, client: TangleClient) -> list[dict]:
        """Every transaction from or to this address, in the node's arrival order."""
        out, since = [], 0
        while True:
            items, since2 = client.find(address=self.address, since=since, limit=500)
            out += items
            if len(items) < 500 or since2 == since:
                return out
            since = since2
