"""Raw HTTP over a socket: send exact bytes, half-close, read the whole answer.

No HTTP library sits between the fuzzer and the server, so malformed request lines,
headers, encodings and bodies reach the server exactly as generated.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

MAX_ANSWER = 16 * 1024 * 1024


@dataclass(frozen=True)
class Req:
    """One request. ``raw`` (when set) is sent as is instead of the assembled request."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    raw: bytes | None = None
    chunked: bool = False  # send ``body`` in Transfer-Encoding: chunked (well-formed chunks)

    def wire(self, host: str) -> bytes:
        if self.raw is not None:
            return self.raw
        names = {k.lower() for k, _ in self.headers}
        head = [f"{self.method} {self.path} HTTP/1.1", *(f"{k}: {v}" for k, v in self.headers)]
        if "host" not in names:
            head.append(f"Host: {host}")
        body = self.body
        if self.chunked:
            head.append("Transfer-Encoding: chunked")
            body = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 8192]), body[i:i + 8192])
                            for i in range(0, len(body), 8192)) + b"0\r\n\r\n"
        elif "content-length" not in names and (self.body or self.method in ("POST", "PUT", "PATCH")):
            head.append(f"Content-Length: {len(body)}")
        if "connection" not in names:
            head.append("Connection: close")
        return "\r\n".join(head).encode("latin-1", "replace") + b"\r\n\r\n" + body

    def short(self, n: int = 300) -> str:
        data = self.raw if self.raw is not None else (
            f"{self.method} {self.path} {dict(self.headers)} ".encode("latin-1", "replace") + self.body)
        return repr(data[:n]) + (f"... ({len(data)} bytes)" if len(data) > n else "")


@dataclass(frozen=True)
class Resp:
    status: int | None  # None: no status line came back
    headers: dict[str, str]
    body: bytes
    error: str | None = None  # what went wrong on the wire (reset, timeout, no answer)


def send(host: str, port: int, req: Req, timeout: float = 15.0) -> Resp:
    """Send ``req``, close our side, read until the server closes; never raises for wire trouble."""
    data = req.wire(f"{host}:{port}")
    buf = bytearray()
    err = None
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            try:
                s.sendall(data)
            except (BrokenPipeError, ConnectionResetError) as exc:
                err = f"send: {type(exc).__name__}"  # the server may answer early (413) and stop reading
            try:
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            try:
                while len(buf) <= MAX_ANSWER:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
            except ConnectionResetError:
                err = "connection reset by the server"
    except TimeoutError:
        return Resp(None, {}, bytes(buf), f"no complete answer within {timeout}s")
    except OSError as exc:
        return Resp(None, {}, bytes(buf), f"{type(exc).__name__}: {exc}")
    return parse(bytes(buf), err)


def parse(buf: bytes, err: str | None = None) -> Resp:
    while buf.startswith(b"HTTP/1.1 1") or buf.startswith(b"HTTP/1.0 1"):  # interim (100 Continue)
        buf = buf.partition(b"\r\n\r\n")[2]
    head, sep, body = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2) if lines else []
    if not sep or len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        return Resp(None, {}, buf, err or "the server closed the connection without an HTTP answer")
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().decode("latin-1").lower()] = v.strip().decode("latin-1")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = _dechunk(body)
    return Resp(int(parts[1]), headers, body, None)


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        line, _, rest = data.partition(b"\r\n")
        try:
            n = int(line.split(b";")[0], 16)
        except ValueError:
            return bytes(out)
        if n == 0:
            break
        out += rest[:n]
        data = rest[n + 2:]
    return bytes(out)
