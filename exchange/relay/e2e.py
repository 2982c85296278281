"""End-to-end protection between a buyer and a device, whatever relays sit between them (pure).

Two layers, both keyed by the device's registry record:

- **Signed answers.** The device signs every answer with its registered Ed25519 key:
  ``Thingbid-Signature: v1.<claims>.<sig>`` where the claims (base64url JSON) name the device,
  the request's method and target as the device saw them, the client's ``Thingbid-Nonce`` (echoed),
  the status, the content type, the body's SHA-256 and the device's clock. A client that sends a
  fresh nonce and checks the signature knows the answer is the device's, to this request: a relay
  can neither forge one nor replay an older one.
- **Sealed requests.** ``POST <device base>/sealed`` carries the real request sealed to the
  device's registered X25519 key (``exchange.crypto.seal``) with a fresh 32-byte reply key inside;
  the device answers with the real answer (status, headers incl. its signature, body) under
  AES-256-GCM with that reply key. Both are padded to a multiple of ``PAD`` bytes. A relay then sees
  the pseudonym, the time, and sizes rounded up to ``PAD``; never the path, the access key or the data.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from exchange.crypto import CryptoError, open_sealed, seal
from exchange.relay.protocol import RelayError

SIGNATURE_HEADER = "Thingbid-Signature"
NONCE_HEADER = "Thingbid-Nonce"
SEALED_PATH = "/sealed"
SEALED_TYPE = "application/vnd.thingbid.sealed"
SEALED_ANSWER_TYPE = "application/vnd.thingbid.sealed-answer"
PAD = 512
_REQUEST_CONTEXT = b"thingbid/sealed-request/v1"
_ANSWER_CONTEXT = b"thingbid/sealed-answer/v1"
_ANSWER_TAG = b"thingbid/answer/v1\x00"
_NONCE = re.compile(r"[A-Za-z0-9_-]{0,64}\Z")


class AnswerError(RelayError, ValueError):
    """An answer is unsigned, forged, for another request, or a sealed message does not open."""


def _b64e(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def _b64d(s: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    except (ValueError, TypeError):
        raise AnswerError("bad base64url") from None


def valid_nonce(nonce: str) -> bool:
    return isinstance(nonce, str) and bool(_NONCE.match(nonce))


def new_client_nonce() -> str:
    return _b64e(os.urandom(18))


def sign_answer(ed25519_private: bytes, device_id_hex: str, method: str, target: str, nonce: str, status: int,
                content_type: str, body: bytes, now: int, request_body: bytes = b"") -> str:
    """The ``Thingbid-Signature`` header value of one answer."""
    claims = {"d": device_id_hex, "m": method, "p": target, "n": nonce if valid_nonce(nonce) else "",
              "s": status, "ct": content_type, "h": hashlib.sha256(body).hexdigest(), "t": now,
              "rb": hashlib.sha256(request_body).hexdigest()}
    encoded = _b64e(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    sig = Ed25519PrivateKey.from_private_bytes(ed25519_private).sign(_ANSWER_TAG + encoded.encode())
    return f"v1.{encoded}.{_b64e(sig)}"


def verify_answer(signing_key: bytes, header: str | None, *, device_id_hex: str, method: str, target: str,
                  nonce: str, status: int, content_type: str, body: bytes, request_body: bytes = b"") -> dict:
    """The claims of a valid signature over this answer to this request, else ``AnswerError``.

    ``target`` is the path and query as the device sees it (``device_target`` of the URL asked for)."""
    if not header:
        raise AnswerError(f"the answer carries no {SIGNATURE_HEADER}")
    parts = header.split(".")
    if len(parts) != 3 or parts[0] != "v1":
        raise AnswerError(f"{SIGNATURE_HEADER} is not v1.<claims>.<signature>")
    try:
        Ed25519PublicKey.from_public_bytes(signing_key).verify(_b64d(parts[2]), _ANSWER_TAG + parts[1].encode())
    except (InvalidSignature, ValueError):
        raise AnswerError("the answer's signature is not the device's registered key's") from None
    try:
        claims = json.loads(_b64d(parts[1]))
    except ValueError:
        raise AnswerError("signed claims are not JSON") from None
    expected = {"d": device_id_hex, "m": method, "p": target, "n": nonce, "s": status, "ct": content_type,
                "h": hashlib.sha256(body).hexdigest(), "rb": hashlib.sha256(request_body).hexdigest()}
    wrong = [k for k, v in expected.items() if not isinstance(claims, dict) or claims.get(k) != v]
    if wrong:
        raise AnswerError(f"the signed answer does not match this request/answer (field {wrong[0]!r})")
    return claims


def _pad(data: bytes) -> bytes:
    return data + b" " * (-len(data) % PAD)  # JSON ignores trailing white space


def seal_request(x25519_public: bytes, device_id_hex: str, method: str, target: str,
                 headers: dict[str, str], body: bytes = b"") -> tuple[bytes, bytes]:
    """(body for ``POST .../sealed``, reply key to open the answer with)."""
    reply_key = os.urandom(32)
    inner = json.dumps({"m": method, "p": target, "h": headers, "k": reply_key.hex(), "b": _b64e(body)}).encode()
    return seal(x25519_public, _pad(inner), _REQUEST_CONTEXT + bytes.fromhex(device_id_hex)), reply_key


def open_request(x25519_private: bytes, device_id_hex: str, box: bytes) -> tuple[str, str, dict, bytes, bytes]:
    """(method, target, headers, reply key, body) of a sealed request, or ``AnswerError``."""
    try:
        inner = json.loads(open_sealed(x25519_private, box, _REQUEST_CONTEXT + bytes.fromhex(device_id_hex)))
        method, target, headers, key = inner["m"], inner["p"], inner["h"], bytes.fromhex(inner["k"])
        body = _b64d(inner.get("b", ""))
    except (CryptoError, ValueError, KeyError, TypeError, AttributeError, RecursionError):  # anyone can seal to a public key
        raise AnswerError("the sealed request does not open with this device's key") from None
    if (not isinstance(method, str) or not isinstance(target, str) or not target.startswith("/")
            or not isinstance(headers, dict) or len(key) != 32
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())):
        raise AnswerError("the sealed request is malformed")
    # What could not go on the wire cannot go to the app either (a newline in a header raised
    # ValueError there, a lone surrogate in the target UnicodeEncodeError).
    if (not _TOKEN.fullmatch(method) or not _TARGET.fullmatch(target)
            or not all(_TOKEN.fullmatch(k) and _HEADER_VALUE.fullmatch(v) for k, v in headers.items())):
        raise AnswerError("the sealed request is malformed: its method, target or a header could not be sent over HTTP")
    return method, target, headers, key, body


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}")  # RFC 9110 token (methods, header names)
_TARGET = re.compile(r"/[\x21-\x7e]{0,8191}")  # origin-form: visible ASCII, no spaces
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]{0,8192}")  # field-value: no CR, LF, NUL or other controls


def seal_answer(reply_key: bytes, device_id_hex: str, status: int, headers: list[tuple[str, str]],
                body: bytes) -> bytes:
    inner = json.dumps({"s": status, "h": [list(h) for h in headers], "b": _b64e(body)}).encode()
    nonce = os.urandom(12)
    return nonce + AESGCM(reply_key).encrypt(nonce, _pad(inner), _ANSWER_CONTEXT + bytes.fromhex(device_id_hex))


def open_answer(reply_key: bytes, device_id_hex: str, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of the device's sealed answer, or ``AnswerError`` if it was tampered with."""
    try:
        inner = json.loads(AESGCM(reply_key).decrypt(data[:12], data[12:], _ANSWER_CONTEXT + bytes.fromhex(device_id_hex)))
        return int(inner["s"]), {str(k): str(v) for k, v in inner["h"]}, _b64d(inner["b"])
    except (InvalidTag, ValueError, KeyError, TypeError):
        raise AnswerError("the sealed answer does not open with the reply key (tampered or not the device's)") from None


def device_target(url_path: str, device_id_hex: str) -> str:
    """The target the device sees for ``url_path`` (path + query a client asks for): below a relay's
    ``/devices/<pseudonym>`` prefix, or the whole path on a direct URL."""
    marker = f"/devices/{device_id_hex}"
    i = url_path.find(marker + "/")
    if i < 0 and url_path.split("?", 1)[0].endswith(marker):
        i = url_path.find(marker)
    return (url_path[i + len(marker):] or "/") if i >= 0 else url_path
