"""Read a device (directly or through relays) and believe only what its registered keys vouch for.

``read_device`` sends a fresh ``Thingbid-Nonce`` and checks the answer's signature against the
device's registered Ed25519 key; with the device's registered X25519 key it seals the request
(``sealed=True``), so relays on the way learn neither the path, the access key nor the answer.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from exchange.relay.e2e import (
    NONCE_HEADER,
    SEALED_PATH,
    SEALED_TYPE,
    SIGNATURE_HEADER,
    AnswerError,
    device_target,
    new_client_nonce,
    open_answer,
    seal_request,
    verify_answer,
)

MAX_ANSWER = 8 << 20


@dataclass(frozen=True)
class DeviceAnswer:
    status: int
    headers: dict[str, str]
    body: bytes
    claims: dict  # the device's signed claims about this answer

    def json(self):
        return json.loads(self.body)


def _http(method: str, url: str, headers: dict[str, str], body: bytes | None, timeout: float):
    req = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - http(s) checked by the caller
            return resp.status, {k: v for k, v in resp.headers.items()}, resp.read(MAX_ANSWER + 1)
    except urllib.error.HTTPError as exc:
        return exc.code, {k: v for k, v in exc.headers.items()}, exc.read(MAX_ANSWER + 1)
    except (urllib.error.URLError, OSError) as exc:
        raise AnswerError(f"the device (or its relay) does not answer: {exc}") from None


def read_device(url: str, *, device_id_hex: str, signing_key: bytes, token: str | None = None,
                x25519_key: bytes | None = None, sealed: bool = True, timeout: float = 10.0,
                method: str = "GET", json_body=None) -> DeviceAnswer:
    """GET ``url`` (a form href of the device's TD; POST ``json_body`` when given, e.g. an action's
    input) as a verified ``DeviceAnswer``.

    A relay's own refusals (404 unknown device, 503 offline) are not the device's and carry no
    signature: they raise ``AnswerError`` naming the status."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise AnswerError(f"not an http(s) URL: {url[:100]!r}")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    target = device_target(path, device_id_hex)
    nonce = new_client_nonce()
    headers = {NONCE_HEADER: nonce, "Accept": "application/json"}
    body_out = b""
    if json_body is not None:
        method, body_out = "POST", json.dumps(json_body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if sealed and x25519_key:
        base_path = path[: len(path) - len(target)] if path.endswith(target) else ""
        box, reply_key = seal_request(x25519_key, device_id_hex, method, target, headers, body_out)
        status, out_headers, body = _http("POST", f"{parts.scheme}://{parts.netloc}{base_path}{SEALED_PATH}",
                                          {"Content-Type": SEALED_TYPE}, box, timeout)
        if status != 200 or not out_headers.get("Content-Type", "").startswith("application/vnd.thingbid.sealed-answer"):
            raise AnswerError(f"the sealed request was not answered by the device: HTTP {status} {body[:200]!r}")
        status, out_headers, body = open_answer(reply_key, device_id_hex, body)
    else:
        status, out_headers, body = _http(method, url, headers, body_out or None, timeout)
    if len(body) > MAX_ANSWER:
        raise AnswerError("the answer is too large")
    sig = next((v for k, v in out_headers.items() if k.lower() == SIGNATURE_HEADER.lower()), None)
    ctype = next((v for k, v in out_headers.items() if k.lower() == "content-type"), "")
    if sig is None:
        raise AnswerError(f"HTTP {status} without the device's signature (a relay's answer?): {body[:200]!r}")
    claims = verify_answer(signing_key, sig, device_id_hex=device_id_hex, method=method, target=target, nonce=nonce,
                           status=status, content_type=ctype, body=body, request_body=body_out)
    return DeviceAnswer(status, out_headers, body, claims)
