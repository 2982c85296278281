"""The relay's wire protocol, as pure functions (no sockets, no chain).

An agent opens a WebSocket to ``RELAY/agent``. The relay sends a challenge; the agent answers
with its device id and an Ed25519 signature, by the key the registry holds for that device, over
``HELLO_TAG || relay id || nonce || device id``. Only then does the relay route requests for that
pseudonym to the connection, so nobody can claim a device whose registered key they lack, and a
signature made for one relay (or one connection) cannot be replayed to another.

After the hello every WebSocket message is one binary frame: a 4-byte big-endian header length,
a JSON header, then the body bytes (opaque to the relay). Requests go relay -> agent
(``{"t": "req", "id", "m", "p", "h", "c"}``), answers agent -> relay (``{"t": "res", "id", "s", "h"}``).
"""

from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from exchange.errors import ExchangeError

HELLO_TAG = b"thingbid/relay-hello/v1"
NONCE_BYTES = 32
MAX_HEADER_BYTES = 16 * 1024  # a frame's JSON header (request line + headers)
MAX_REQUEST_BODY = 64 * 1024  # what a buyer may send (the WoT API takes no bodies; sealed requests are small)
MAX_ANSWER_BYTES = 8 * 1024 * 1024  # what an agent may send back in one frame
MAX_HEADERS = 64
CLOSE_MALFORMED = 4400  # WebSocket close codes (4000-4999 are the application's)
CLOSE_BAD_HELLO = 4401
CLOSE_UNREGISTERED = 4404
CLOSE_REPLACED = 4409  # the agent stops dialling: a newer connection holds the device
_PSEUDONYM = re.compile(r"[0-9a-f]{64}\Z")
_METHOD = re.compile(r"[A-Z]{1,16}\Z")
# Hop-by-hop headers (RFC 9110 7.6.1) and ones the relay computes itself: never forwarded.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "transfer-encoding", "upgrade", "content-length", "host"})


class RelayError(ExchangeError):
    """Root of the relay's deliberate errors."""


class RelayProtocolError(RelayError, ValueError):
    """A frame, hello or pseudonym is malformed, or a signature does not verify."""


@dataclass(frozen=True)
class Frame:
    header: dict
    body: bytes = b""


def parse_pseudonym(text: str) -> bytes:
    """The 32-byte device id a ``/devices/<pseudonym>`` path names (64 lowercase hex digits)."""
    if not isinstance(text, str) or not _PSEUDONYM.match(text):
        raise RelayProtocolError(f"a pseudonym is the device id as 64 lowercase hex digits, got {str(text)[:80]!r}")
    return bytes.fromhex(text)


def new_nonce() -> bytes:
    return os.urandom(NONCE_BYTES)


def hello_message(relay_id: str, nonce: bytes, device_id: bytes) -> bytes:
    """The bytes an agent signs to claim ``device_id`` on this connection of relay ``relay_id``."""
    rid = relay_id.encode()
    if len(nonce) != NONCE_BYTES or len(device_id) != 32 or not 0 < len(rid) < 256:
        raise RelayProtocolError("hello needs a 32-byte nonce, a 32-byte device id and a relay id of 1..255 bytes")
    return HELLO_TAG + bytes([len(rid)]) + rid + nonce + device_id


def sign_hello(ed25519_private: bytes, relay_id: str, nonce: bytes, device_id: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(ed25519_private).sign(hello_message(relay_id, nonce, device_id))


def verify_hello(registered_key: bytes, relay_id: str, nonce: bytes, device_id: bytes, signature: bytes) -> None:
    """Raise ``RelayProtocolError`` unless ``signature`` is the registered key's over this hello."""
    if len(registered_key) != 32 or registered_key == bytes(32):
        raise RelayProtocolError("the device has no registered signing key")
    try:
        Ed25519PublicKey.from_public_bytes(registered_key).verify(signature, hello_message(relay_id, nonce, device_id))
    except (InvalidSignature, ValueError):
        raise RelayProtocolError("the hello signature is not the registered key's") from None


def encode_frame(header: dict, body: bytes = b"") -> bytes:
    head = json.dumps(header, separators=(",", ":")).encode()
    if len(head) > MAX_HEADER_BYTES:
        raise RelayProtocolError(f"frame header of {len(head)} bytes exceeds {MAX_HEADER_BYTES}")
    return struct.pack(">I", len(head)) + head + bytes(body)


def decode_frame(data: bytes) -> Frame:
    if not isinstance(data, bytes | bytearray) or len(data) < 4:
        raise RelayProtocolError("a frame is at least 4 bytes")
    (n,) = struct.unpack_from(">I", data)
    if n > MAX_HEADER_BYTES or 4 + n > len(data):
        raise RelayProtocolError(f"frame header length {n} is out of bounds")
    try:
        header = json.loads(bytes(data[4:4 + n]))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise RelayProtocolError("frame header is not JSON") from None
    if not isinstance(header, dict) or not isinstance(header.get("t"), str):
        raise RelayProtocolError("frame header must be an object with a type 't'")
    return Frame(header, bytes(data[4 + n:]))


def request_frame(request_id: int, method: str, target: str, headers: list[tuple[str, str]], client: str,
                  body: bytes = b"") -> bytes:
    """A buyer's request as the relay forwards it (``target``: path below the pseudonym + query)."""
    kept = [[k, v] for k, v in headers if k.lower() not in HOP_BY_HOP]
    return encode_frame({"t": "req", "id": request_id, "m": method, "p": target, "h": kept, "c": client}, body)


@dataclass(frozen=True)
class Answer:
    request_id: int
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def parse_answer(frame: Frame) -> Answer:
    """An agent's answer frame, checked (an agent is not trusted to send well-formed ones)."""
    h = frame.header
    rid, status, headers = h.get("id"), h.get("s"), h.get("h", [])
    if h.get("t") != "res" or type(rid) is not int or type(status) is not int or not 100 <= status <= 599:
        raise RelayProtocolError("an answer needs t='res', an integer id and a status 100..599")
    if not isinstance(headers, list) or len(headers) > MAX_HEADERS:
        raise RelayProtocolError(f"answer headers must be a list of at most {MAX_HEADERS} pairs")
    pairs = []
    for pair in headers:
        if (not isinstance(pair, list) or len(pair) != 2 or not all(isinstance(x, str) for x in pair)
                or not pair[0] or any(c in "\r\n:" for c in pair[0]) or any(c in "\r\n" for c in pair[1])):
            raise RelayProtocolError("an answer header is a [name, value] pair of strings without CR/LF")
        if pair[0].lower() not in HOP_BY_HOP:
            pairs.append((pair[0], pair[1]))
    return Answer(rid, status, pairs, frame.body)


def parse_request(frame: Frame) -> tuple[int, str, str, list[tuple[str, str]], str]:
    """(id, method, target, headers, client) of a request frame (the agent's side)."""
    h = frame.header
    rid, method, target, headers, client = h.get("id"), h.get("m"), h.get("p"), h.get("h", []), h.get("c", "")
    if (h.get("t") != "req" or type(rid) is not int or not isinstance(method, str) or not _METHOD.match(method)
            or not isinstance(target, str) or not target.startswith("/") or not isinstance(client, str)
            or not isinstance(headers, list)):
        raise RelayProtocolError("a request needs t='req', an integer id, a method, a target path and a client")
    pairs = [(str(k), str(v)) for k, v in headers]
    return rid, method, target, pairs, client


MIN_BACKOFF_S = 0.05
MAX_BACKOFF_S = 1.0  # a relay restart: agents back within ~1 s of it listening; 1,000 refused dials a second cost little


def backoff_delay(attempt: int, rand: float) -> float:
    """Seconds before reconnect ``attempt`` (0, 1, ...): full jitter in [50 ms, min(1 s, 50 ms * 2^attempt)],
    so a relay restart is not met by every agent at the same instant. ``rand`` is uniform in [0, 1)."""
    cap = min(MAX_BACKOFF_S, MIN_BACKOFF_S * 2 ** min(attempt, 16))
    return MIN_BACKOFF_S + (cap - MIN_BACKOFF_S) * rand
