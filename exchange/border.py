"""What every HTTP server of the project does at its network border (one place, shared).

A request a client got wrong is answered 4xx with a JSON reason, never 5xx, and changes
nothing. The pieces here do the parts every server needs:

* ``read_body(request, limit)`` reads the body in pieces and stops at ``limit`` (413 while
  reading, not after: a 64 MiB chunked body is never held in memory); a malformed chunked
  encoding or a body cut short is a 400, not an ``OSError``.
* ``parse_json(data)`` turns anything that is not JSON (bad UTF-8, depth beyond
  ``MAX_JSON_DEPTH`` that would raise ``RecursionError``, ``NaN``) into a 400.
* ``check_text`` refuses NUL and other control characters (PostgreSQL refuses NUL in text;
  none belongs in a tag, a URL or a name) and over-long text; ``check_int`` checks integers
  against the storage type (``INT64``: a BigInteger column) before they reach SQL.
* ``check_base_url`` accepts only what urllib can use: ``http(s)://host[:port]``.
* ``JsonErrorHandler`` is a werkzeug request handler whose own errors (bad request line,
  too many or too long headers) are JSON too, that logs no line per request, and that drains
  what a client still sends after an early answer (a 413 reaches the client instead of a
  connection reset).

``BorderError`` (status + reason) is what these raise; each server maps it onto its answer.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import urllib.parse

from werkzeug.exceptions import HTTPException
from werkzeug.serving import DechunkedInput, WSGIRequestHandler

from exchange.errors import ExchangeError

INT64 = (-(2**63), 2**63 - 1)
INT32 = (-(2**31), 2**31 - 1)  # an Integer column on PostgreSQL (arrival order, milestone index)
UINT63 = (0, 2**63 - 1)  # what an unsigned wire value may be to fit a signed BigInteger column
MAX_JSON_DEPTH = 64
_LINGER_BYTES = 8 * 1024 * 1024
_LINGER_S = 2.0


class BorderError(ExchangeError, ValueError):
    """A request refused at the border: ``status`` (4xx) and ``reason`` (sent as JSON)."""

    def __init__(self, reason: str, status: int = 400):
        self.reason = reason
        self.status = status
        super().__init__(reason)


def read_body(request, limit: int) -> bytes:
    """The request body, at most ``limit`` bytes, read in pieces (BorderError 413 / 400)."""
    n = request.content_length
    if n is not None and n > limit:
        raise BorderError(f"request body too large (limit {limit} bytes)", 413)
    raw = request.environ.get("wsgi.input")
    if isinstance(raw, DechunkedInput):  # werkzeug's own dechunker can corrupt memory on bad input
        return _read_chunked(raw._rfile, limit)
    buf = bytearray()
    try:
        stream = request.stream
        while True:
            piece = stream.read(min(65536, limit + 1 - len(buf)))
            if not piece:
                break
            buf += piece
            if len(buf) > limit:
                raise BorderError(f"request body too large (limit {limit} bytes)", 413)
    except (OSError, ValueError, HTTPException) as exc:
        if isinstance(exc, BorderError):
            raise
        raise BorderError("malformed request body (bad chunked encoding, or it ended early)", 400) from None
    return bytes(buf)


_HEXDIGITS = frozenset(b"0123456789abcdefABCDEF")


def _read_chunked(rfile, limit: int) -> bytes:
    """Decode Transfer-Encoding: chunked strictly, refusing at ``limit`` while reading."""
    bad = BorderError("malformed request body (bad chunked encoding, or it ended early)", 400)
    buf = bytearray()
    try:
        while True:
            line = rfile.readline(1026)
            if not line.endswith(b"\n"):
                raise bad
            size = line.split(b";", 1)[0].strip()
            if not size or len(size) > 16 or not _HEXDIGITS.issuperset(size):
                raise bad
            n = int(size, 16)
            if n == 0:
                for _ in range(64):  # trailer lines up to the blank one
                    t = rfile.readline(8194)
                    if t in (b"\r\n", b"\n"):
                        return bytes(buf)
                    if not t.endswith(b"\n"):
                        raise bad
                raise bad
            if len(buf) + n > limit:
                raise BorderError(f"request body too large (limit {limit} bytes)", 413)
            data = rfile.read(n)
            if len(data) != n or rfile.readline(3) not in (b"\r\n", b"\n"):
                raise bad
            buf += data
    except OSError:
        raise bad from None


def _depth_ok(obj, limit: int) -> bool:
    stack = [(obj, 1)]
    while stack:
        o, d = stack.pop()
        if isinstance(o, dict | list):
            if d > limit:
                return False
            stack.extend((v, d + 1) for v in (o.values() if isinstance(o, dict) else o))
    return True


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_PAIR = re.compile(rb"\[\]|\{\}")
_NOT_BRACKET = bytes(c for c in range(256) if c not in b"[]{}")


def _nesting_ok(data: bytes, limit: int) -> bool:
    """Whether brackets outside strings nest at most ``limit`` deep, without parsing (C-speed
    passes): json.loads would recurse once per level, and a raised recursion limit (py-evm sets
    one) turns 100,000 levels into a crash of the process instead of a RecursionError."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return True
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKET)
    for _ in range(limit):
        if not brackets:
            return True
        shorter = _PAIR.sub(b"", brackets)
        if shorter == brackets:  # unbalanced (not JSON): json.loads goes at most len() deep
            return len(brackets) <= limit
        brackets = shorter
    return not brackets


def parse_json(data: bytes | str, max_depth: int = MAX_JSON_DEPTH):
    """Strict JSON (no NaN/Infinity), nested at most ``max_depth``; BorderError 400 otherwise."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if not _nesting_ok(raw, max_depth):
        raise BorderError(f"body is not valid JSON here: nested deeper than {max_depth}")
    try:
        obj = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BorderError("body is not valid JSON") from None
    if not _depth_ok(obj, max_depth):
        raise BorderError(f"body is not valid JSON here: nested deeper than {max_depth}")
    return obj


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_text(value, what: str, max_len: int = 256, allow_newlines: bool = False) -> str:
    """A string without NUL/control characters, at most ``max_len`` characters."""
    if not isinstance(value, str):
        raise BorderError(f"{what} must be a string")
    if len(value) > max_len:
        raise BorderError(f"{what} longer than {max_len} characters")
    text = value.replace("\n", "").replace("\r", "").replace("\t", "") if allow_newlines else value
    if _CONTROL.search(text):
        raise BorderError(f"{what} must not contain NUL or control characters")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise BorderError(f"{what} must not contain lone surrogates")
    return value


def check_int(value, what: str, lo: int = INT64[0], hi: int = INT64[1]) -> int:
    """An int (not a bool) in ``lo..hi`` (defaults: the range of a signed 64-bit column)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise BorderError(f"{what} must be an integer")
    if not lo <= value <= hi:
        raise BorderError(f"{what} must be in {lo}..{hi}")
    return value


_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def check_base_url(url, what: str = "url", max_len: int = 500) -> str:
    """``http(s)://host[:port]`` that urllib and http.client accept; returned without a trailing '/'."""
    bad = BorderError(f"{what} must be http(s)://host[:port] (no user, path, query or spaces)")
    if not isinstance(url, str) or len(url) > max_len or not url.isascii() or _CONTROL.search(url) or " " in url:
        raise bad
    url = url.rstrip("/")
    try:
        p = urllib.parse.urlsplit(url)
        port = p.port
    except ValueError:
        raise bad from None
    if p.scheme not in ("http", "https") or p.path or p.query or p.fragment or "@" in p.netloc:
        raise bad
    host = p.hostname or ""
    if not host:
        raise bad
    if p.netloc.startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise bad from None
    elif not all(_HOST_LABEL.fullmatch(label) for label in host.split(".")) or len(host) > 253:
        raise bad
    if port is not None and port == 0:
        raise bad
    return f"{p.scheme}://{p.netloc}"


class JsonErrorHandler(WSGIRequestHandler):
    """werkzeug's handler with JSON protocol errors, no per-request log line and a lingering close."""

    # Answers to a request line that cannot be parsed still get a status line (HTTP/0.9 is gone)
    default_request_version = "HTTP/1.0"

    def log_request(self, *args, **kwargs) -> None:  # one line per request would swamp the log
        pass

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        if code >= 500:  # 505 bad version, 501 unknown method: what the client sent, not a fault here
            code = 400
        short = self.responses.get(code, ("error", ""))[0]
        body = json.dumps({"error": message or short}).encode()
        self.close_connection = True
        try:
            self.send_response(code, short)
            self.send_header("Content-Type", "application/json")
            self.send_header("Connection", "close")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD" and code >= 200 and code not in (204, 304):
                self.wfile.write(body)
        except OSError:
            pass

    def parse_request(self) -> bool:
        ok = super().parse_request()
        if not ok and not self.requestline.split() and self.raw_requestline.strip(b"\r\n"):
            self.send_error(400, "Bad request line")  # only whitespace: answered, not hung up on
        return ok

    def handle(self) -> None:
        try:
            super().handle()
        finally:
            self._linger()

    def _linger(self) -> None:
        """After the last answer, read (and drop) what the client still sends, then close: closing
        with unread bytes would reset the connection and could destroy an answer in flight."""
        sock = self.connection
        try:
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(_LINGER_S)
            left = _LINGER_BYTES
            while left > 0:
                got = sock.recv(min(65536, left))
                if not got:
                    break
                left -= len(got)
        except OSError:
            pass
