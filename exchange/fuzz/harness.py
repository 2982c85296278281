"""The fuzz harness: Hypothesis-generated requests against one server, and what must hold.

For every request: an HTTP answer comes back (no dropped connection, no hang), its status
is below 500, a 4xx carries a JSON reason, and a refused request leaves the server's state
digest exactly as it was. See ``exchange.fuzz`` for how a server joins.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from exchange.errors import ExchangeError
from exchange.fuzz.wire import Req, Resp, send

CONCURRENCY = 8


class FuzzFailure(ExchangeError, AssertionError):
    """A server broke a rule; the message names the server, the seed, the request and the answer."""


@dataclass(frozen=True)
class Route:
    """One route. ``path`` is a concrete example path (``/v1/things/abc``); ``valid(rng)`` builds
    a request the server accepts (2xx) from its live state, or ``None`` when the route has no
    such request. ``json`` says the body is a JSON object (so fields are mutated one by one).
    ``refused(rng)`` builds a well-formed request the server must refuse with a 4xx and no state
    change (no or a wrong credential, a missing CSRF token, another user's session ...)."""

    method: str
    path: str
    valid: Callable[[random.Random], Req] | None = None
    json: bool = True
    refused: Callable[[random.Random], Req] | None = None  # a request the server must refuse (4xx)
    # where mutations start when there is no valid builder (a request with the client's session,
    # say, that the server may well refuse); default: the bare method and path
    base: Callable[[random.Random], Req] | None = None


def _json_reason(resp: Resp) -> str | None:
    try:
        obj = json.loads(resp.body)
    except (ValueError, UnicodeDecodeError):
        return f"the {resp.status} answer is not JSON: {resp.body[:200]!r}"
    if not isinstance(obj, dict) or not obj.get("error"):
        return f"the {resp.status} answer has no JSON reason ('error'): {resp.body[:200]!r}"
    return None


def _http_refused(resp: Resp) -> bool:
    return resp.status is not None and 400 <= resp.status < 500


def _http_accepted(resp: Resp) -> bool:
    return resp.status is not None and 200 <= resp.status < 300


@dataclass
class Target:
    """A running server as the harness sees it.

    * ``routes``: every route, with a valid-request builder where there is one;
    * ``digest()``: a value that changes whenever the server's state changes (rows, balances,
      peers, ...); it is compared before and after each refused request;
    * ``max_body``: the server's body limit (oversized bodies are a little above it);
    * ``headers``: sent with every request (authentication of the fuzzing client);
    * ``reason(resp)``: None when a 4xx answer explains itself (default: JSON ``{"error": ...}``);
      ``reason(req, resp)`` when ``reason_sees_request`` (a web app answers HTML pages and JSON APIs);
    * ``refused(resp)``: whether the server refused the request, so its state must not change
      (default: a 4xx; a JSON-RPC server also counts a 200 with an ``error`` member);
    * ``accepted(resp)``: whether the answer to a valid request is a success (default: a 2xx; a
      web app's form POST answers 303 to the page that shows the result).
    """

    name: str
    host: str
    port: int
    routes: list[Route]
    digest: Callable[[], object]
    max_body: int = 1024 * 1024
    headers: tuple[tuple[str, str], ...] = ()
    reason: Callable[[Resp], str | None] = _json_reason
    refused: Callable[[Resp], bool] = _http_refused
    accepted: Callable[[Resp], bool] = _http_accepted
    reason_sees_request: bool = False


@dataclass
class Stats:
    server: str
    seed: int
    requests: int = 0
    status: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def status_5xx(self) -> int:
        return sum(n for s, n in self.status.items() if isinstance(s, int) and s >= 500)

    def row(self) -> dict:
        return {"server": self.server, "requests": self.requests, "status_5xx": self.status_5xx,
                "status_4xx": sum(n for s, n in self.status.items() if isinstance(s, int) and 400 <= s < 500),
                "status_2xx": sum(n for s, n in self.status.items() if isinstance(s, int) and 200 <= s < 300),
                "requests_per_s": round(self.requests / self.seconds, 1) if self.seconds else 0.0,
                "seed": self.seed}


# ---------------------------------------------------------------------------------------------
# mutation vocabulary (plain functions of a Random, so a spec's seed replays it exactly)

NUMBERS = [-1, 0, 1, -(2**63) - 1, 2**63, 2**63 - 1, 2**64, -(2**64), 10**30, 1.5, -0.0, 1e308, 2**53 + 1]
NUMBER_LITERALS = [b"1e400", b"-1e400", b"1" * 5000, b"0x10", b"01", b"NaN", b"Infinity", b"-", b"1.", b".5"]
NASTY_TEXT = ["\x00", "a\x00b", "\x01\x02\x1f", "\x7f", "\r\n", "\t", "\u202e", "\ufeff", "\ud800", "\udfff",
              "%00", "../../etc/passwd", "' OR 1=1 --", "\"", "\\", "{}", "\u00e9", "\U0001f600", " ", ""]
BAD_UTF8 = [b"\xff", b"\xfe\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80", b"\xe2\x82"]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "CONNECT", "get", "FOO", "P0ST"]


def _leaves(obj, path=()):
    if isinstance(obj, dict):
        yield path, obj
        for k, v in obj.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(obj, list):
        yield path, obj
        for i, v in enumerate(obj):
            yield from _leaves(v, (*path, i))
    else:
        yield path, obj


def _set(obj, path, value):
    if not path:
        return value
    obj = json.loads(json.dumps(obj))
    cur = obj
    for k in path[:-1]:
        cur = cur[k]
    cur[path[-1]] = value
    return obj


def _mutate_value(v, rng: random.Random, extra):
    r = rng.random()
    if isinstance(v, str) and v and r < 0.4:
        i = rng.randrange(len(v))
        op = rng.randrange(4)
        if op == 0:
            return v[:i] + v[i + 1:]
        if op == 1:
            return v[:i] + rng.choice("0fF zg\x00\u00e9") + v[i + 1:]
        if op == 2:
            return v + v[: rng.randint(1, len(v))]
        return v[:i]
    if isinstance(v, int) and not isinstance(v, bool) and r < 0.4:
        return rng.choice([v + 1, v - 1, -v, v * 2**40, 0])
    if r < 0.6:
        return rng.choice(NUMBERS)
    if r < 0.8:
        return rng.choice(NASTY_TEXT)
    return extra


def _body_json(req: Req):
    try:
        return json.loads(req.body)
    except (ValueError, UnicodeDecodeError):
        return None


def _with(req: Req, **kw) -> Req:
    if "body" in kw:
        kw["headers"] = tuple((k, v) for k, v in req.headers if k.lower() != "content-length")
    return replace(req, **kw)


_FRAMING_HEADERS = {"host", "content-length", "transfer-encoding", "connection"}


def _mutate_header(req: Req, rng: random.Random, text: str, value) -> Req:
    """One header of ``req`` (a credential, a cookie, a CSRF token ...) dropped, cut, flipped or replaced."""
    names = [i for i, (k, _) in enumerate(req.headers) if k.lower() not in _FRAMING_HEADERS]
    if not names:
        return req
    i = rng.choice(names)
    k, v = req.headers[i]
    op = rng.randrange(5)
    if op == 0:
        return replace(req, headers=req.headers[:i] + req.headers[i + 1:])
    if op == 1:
        new = v.partition(" ")[0] + " " + (text or "x") if " " in v else text
    elif op == 2:
        new = rng.choice(NASTY_TEXT) + v if rng.random() < 0.5 else v + rng.choice(NASTY_TEXT)
    elif op == 3:
        new = json.dumps(value)
    else:
        new = _mutate_value(v, rng, text) if v else text
        new = new if isinstance(new, str) else json.dumps(new)
    return replace(req, headers=(*req.headers[:i], (k, new.replace("\r", " ").replace("\n", " ")),
                                 *req.headers[i + 1:]))


def _mutate_path(path: str, rng: random.Random, text: str) -> str:
    base, _, query = path.partition("?")
    op = rng.randrange(7)
    if op == 0 and base.rstrip("/"):
        i = rng.randrange(len(base))
        return base[:i] + rng.choice(["%00", "%ff", "%2e%2e", "/", "//", "%", "%zz", "~", "\u00e9"]) + base[i:] + (
            "?" + query if query else "")
    if op == 1:
        return base + "?" + "&".join(f"{k}={rng.choice(['-1', '1e9', str(2**64), '%00', 'x', '', '%ff'])}"
                                     for k in ([p.split("=")[0] for p in query.split("&") if p] or ["since", "limit"]))
    if op == 2:
        from urllib.parse import quote

        segs = base.split("/")
        segs[-1] = quote(text.encode("utf-8", "surrogatepass"), safe="") or "%00"
        return "/".join(segs) + ("?" + query if query else "")
    if op == 3:
        return base + "/" + rng.choice(["x", "..", "%00", "raw/raw", ""]) + ("?" + query if query else "")
    if op == 4:
        return base + "?" + query + "&" + "&".join(f"a{i}=b" for i in range(rng.randint(1, 300)))
    if op == 5:
        return rng.choice(["*", "http://example.com" + base, base.upper(), "/" + "a" * rng.randint(1, 8000),
                           base + "#frag", base.replace("/", "\\")])
    return base + "?" + query.replace("=", rng.choice(["==", "=%00", "=\u00e9", "[]=", "=1&"]))


def _deep_json(rng: random.Random, limit: int) -> bytes:
    # As deep as fits under the limit: a 4 KiB limit still takes 2,000 levels, twice the recursion limit.
    depth = rng.choice([65, 200, 1000, 5000, 100_000])
    if rng.random() < 0.5:
        depth = min(depth, max(1, limit // 2 - 1))
        return b"[" * depth + b"]" * depth
    if rng.random() < 0.5:
        depth = min(depth, max(1, (limit - 8) // 2))
        return b'{"a":' + b"[" * depth + b"]" * depth + b"}"
    depth = min(depth, max(1, (limit - 1) // 6))
    return b'{"a":' * depth + b"1" + b"}" * depth


def _form_fields(req: Req) -> list[tuple[str, str]] | None:
    """The fields of a form-encoded body (``None`` for any other body)."""
    from urllib.parse import parse_qsl

    ctype = next((v for k, v in req.headers if k.lower() == "content-type"), "")
    if not req.body or not ctype.startswith("application/x-www-form-urlencoded"):
        return None
    try:
        return parse_qsl(req.body.decode("ascii"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        return None


_KEEP = {"csrf_token"}  # a form's CSRF token stays as it is, so the mutation reaches the view


def _mutate_form(req: Req, fields: list[tuple[str, str]], rng: random.Random, kind: str, value, text: str) -> Req:
    """One field of a form replaced by a hostile value for ``kind`` (or dropped, or repeated)."""
    from urllib.parse import quote

    names = [i for i, (k, _) in enumerate(fields) if k not in _KEEP] or list(range(len(fields)))
    i = rng.choice(names)
    k, v = fields[i]
    if kind == "numbers":
        new = str(rng.choice(NUMBERS + [lit.decode() for lit in NUMBER_LITERALS]))
    elif kind == "control_chars":
        new = (v if rng.random() < 0.5 else "") + text + rng.choice(NASTY_TEXT)
    elif kind == "wrong_type":
        new = json.dumps(value)
    else:
        r = rng.random()
        if r < 0.15:
            return _with(req, body="&".join(f"{a}={quote(b)}" for j, (a, b) in enumerate(fields) if j != i).encode())
        if r < 0.25:
            fields = [*fields, (k, rng.choice(NASTY_TEXT))]  # the field twice
            new = v
        else:
            new = _mutate_value(v, rng, value)
            new = new if isinstance(new, str) else json.dumps(new)
    out = [*fields[:i], (k, new), *fields[i + 1:]]
    body = "&".join(f"{quote(a)}={quote(b.encode('utf-8', 'surrogatepass'), safe='')}" for a, b in out)
    return _with(req, body=body.encode())


def materialize(kind: str, route: Route, rng: random.Random, blob: bytes, value, text: str,
                target: Target) -> list[Req]:
    """The requests of one generated case (several for ``concurrent``)."""
    if route.valid is not None:
        base = route.valid(rng)
    elif route.base is not None:
        base = route.base(rng)
    else:
        base = Req(route.method, route.path, (("Content-Type", "application/json"),),
                   b"{}" if route.method != "GET" else b"")
    base = replace(base, headers=(*target.headers, *base.headers))
    obj = _body_json(base) if route.json and base.body else None
    if kind == "valid":
        return [base]
    form = _form_fields(base) if obj is None else None
    if form and kind in ("mutated", "numbers", "control_chars", "wrong_type") and rng.random() < 0.7:
        return [_mutate_form(base, form, rng, kind, value, text)]
    if kind == "refused":
        if route.refused is not None:
            req = route.refused(rng)
            return [replace(req, headers=(*target.headers, *req.headers))]
        kind = "mutated"
    if kind == "mutated":
        if len(base.headers) > len(target.headers) and rng.random() < 0.3:
            return [_mutate_header(base, rng, text, value)]
        if obj is not None and rng.random() < 0.7:
            paths = list(_leaves(obj))
            path, leaf = rng.choice(paths)
            r = rng.random()
            if r < 0.15 and isinstance(leaf, dict) and leaf:
                new = {k: v for k, v in leaf.items() if k != rng.choice(list(leaf))}
            elif r < 0.25 and isinstance(leaf, dict):
                new = {**leaf, text[:20] or "x": value}
            else:
                new = _mutate_value(leaf, rng, value)
            return [_with(base, body=json.dumps(_set(obj, path, new)).encode())]
        if base.body and rng.random() < 0.6:
            b = bytearray(base.body)
            for _ in range(rng.randint(1, 4)):
                i = rng.randrange(len(b))
                op = rng.randrange(3)
                if op == 0:
                    b[i] ^= 1 << rng.randrange(8)
                elif op == 1:
                    del b[i]
                else:
                    b[i:i] = bytes([rng.randrange(256)])
            return [_with(base, body=bytes(b))]
        return [replace(base, path=_mutate_path(base.path, rng, text))]
    if kind == "garbage_body":
        ctype = rng.choice(["application/json", "text/plain", "application/octet-stream", "multipart/form-data",
                            "application/x-www-form-urlencoded", "application/json; charset=utf-16"])
        return [_with(base, method=route.method if route.method != "GET" else "POST", body=blob,
                      headers=(*target.headers, ("Content-Type", ctype)))]
    if kind == "garbage_wire":
        data = blob if blob[:1] not in (b"", b"\r", b"\n", b" ", b"\t") else b"X" + blob
        if rng.random() < 0.5:
            data = f"{route.method} {route.path} HTTP/1.1\r\n".encode() + blob
        return [Req("RAW", "", raw=data)]
    if kind == "wrong_type":
        if obj is not None and rng.random() < 0.8:
            path, _ = rng.choice(list(_leaves(obj)))
            return [_with(base, body=json.dumps(_set(obj, path, value)).encode())]
        return [_with(base, body=json.dumps(value).encode())]
    if kind == "numbers":
        lit = rng.choice(NUMBER_LITERALS)
        if obj is not None and isinstance(obj, dict) and obj:
            key = rng.choice(list(obj))
            if rng.random() < 0.5:
                return [_with(base, body=json.dumps(_set(obj, (key,), rng.choice(NUMBERS))).encode())]
            marker = "__NUM__"
            return [_with(base, body=json.dumps(_set(obj, (key,), marker)).encode().replace(b'"__NUM__"', lit))]
        b, _, q = base.path.partition("?")
        keys = [p.split("=")[0] for p in q.split("&") if p] or ["since", "limit", "n"]
        return [replace(base, path=b + "?" + "&".join(f"{k}={rng.choice(NUMBERS + [lit.decode()])}" for k in keys))]
    if kind == "deep_json":
        return [_with(base, method=route.method if route.method != "GET" else "POST",
                      body=_deep_json(rng, target.max_body))]
    if kind == "bad_encoding":
        bad = rng.choice(BAD_UTF8)
        op = rng.randrange(4)
        if op == 0 and base.body:
            i = rng.randrange(len(base.body) + 1)
            return [_with(base, body=base.body[:i] + bad + base.body[i:])]
        if op == 1:
            return [Req("RAW", "", raw=f"{route.method} {base.path}".encode() + bad + b" HTTP/1.1\r\nHost: x\r\n\r\n")]
        if op == 2:
            return [Req("RAW", "", raw=f"{route.method} {base.path} HTTP/1.1\r\nHost: x\r\nX-Thing: ".encode() + bad
                        + b"\r\nContent-Length: " + str(len(base.body)).encode() + b"\r\n\r\n" + base.body)]
        return [_with(base, body=(base.body or b"{}").decode("latin-1").encode("utf-16"),
                      headers=(*base.headers, ("Content-Type", "application/json; charset=utf-16")))]
    if kind == "control_chars":
        nasty = text + rng.choice(NASTY_TEXT)
        if obj is not None and rng.random() < 0.6:
            strs = [p for p, v in _leaves(obj) if isinstance(v, str)] or [p for p, _ in _leaves(obj)]
            return [_with(base, body=json.dumps(_set(obj, rng.choice(strs), nasty)).encode())]
        from urllib.parse import quote

        b, _, q = base.path.partition("?")
        keys = [p.split("=")[0] for p in q.split("&") if p] or ["tag", "q", "name"]
        return [replace(base, path=b + "?" + "&".join(f"{k}={quote(nasty.encode('utf-8', 'surrogatepass'), safe='')}" for k in keys))]
    if kind == "oversize_body":
        over = target.max_body + rng.randint(1, 65536)
        op = rng.randrange(3)
        if op == 0:  # declared and sent
            return [_with(base, method=route.method if route.method != "GET" else "POST", body=b"0" * over)]
        if op == 1:  # declared huge, little sent
            return [replace(base, headers=(*base.headers, ("Content-Length", str(rng.choice([over, 10**12, 2**63])))),
                            body=base.body[:10])]
        return [replace(base, method=route.method if route.method != "GET" else "POST", body=b"0" * over, chunked=True)]
    if kind == "oversize_headers":
        op = rng.randrange(4)
        if op == 0:
            return [replace(base, headers=(*base.headers, ("X-Big", "a" * 70_000)))]
        if op == 1:
            return [replace(base, headers=(*base.headers, *((f"X-H{i}", "v") for i in range(rng.randint(101, 400)))))]
        if op == 2:
            return [replace(base, path=base.path + "?" + "a" * 70_000)]
        return [replace(base, headers=(*base.headers, ("Cookie", "c=" + "x" * rng.randint(4000, 60_000)),
                                       ("Authorization", "Bearer " + "y" * 8000)))]
    if kind == "bad_framing":
        body = base.body or b"{}"
        head = f"{route.method if route.method != 'GET' else 'POST'} {base.path} HTTP/1.1\r\nHost: x\r\n".encode()
        head += b"".join(f"{k}: {v}\r\n".encode("latin-1", "replace") for k, v in target.headers)
        variants = [
            b"Transfer-Encoding: chunked\r\n\r\nzz\r\n" + body + b"\r\n0\r\n\r\n",
            b"Transfer-Encoding: chunked\r\n\r\n-5\r\n" + body + b"\r\n0\r\n\r\n",
            b"Transfer-Encoding: chunked\r\n\r\n%x\r\n" % (len(body) + 50) + body,
            b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n" + body,
            b"Transfer-Encoding: chunked\r\n\r\n" + b"%x;ext=1\r\n" % len(body) + body + b"\r\n0\r\n\r\n",
            b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n",
            b"Transfer-Encoding: gzip, chunked\r\n\r\n1\r\n\x1f\r\n0\r\n\r\n",
            b"Content-Length: -1\r\n\r\n" + body,
            b"Content-Length: abc\r\n\r\n" + body,
            b"Content-Length: 5\r\nContent-Length: 50\r\n\r\n" + body,
            b"Content-Length: %d\r\n\r\n" % (len(body) + 100) + body,  # ends early
            b"Content-Length: 1\r\n\r\n" + body,  # trailing bytes
            b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(body) + body,
            b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body) + body,
        ]
        return [Req("RAW", "", raw=head + b"Content-Type: application/json\r\n" + rng.choice(variants))]
    if kind == "bad_request_line":
        m = rng.choice(METHODS)
        variants = [f"{m} {base.path} HTTP/1.1", f"{m} {base.path} HTTP/9.9", f"{m} {base.path} HTTP/1.1 extra",
                    f"{m}  {base.path}  HTTP/1.1", f"{m} {base.path} http/1.1", f"{m} {base.path} HTTP/1.1\x00",
                    f"{m} {base.path}\x01 HTTP/1.1", f"{m}\t{base.path}\tHTTP/1.1", f"{m} {base.path} HTTP/1.1.1"]
        line = rng.choice(variants)
        return [Req("RAW", "", raw=line.encode("utf-8", "surrogatepass") + b"\r\nHost: x\r\nContent-Length: "
                    + str(len(base.body)).encode() + b"\r\n\r\n" + base.body)]
    if kind == "concurrent":
        one = base if rng.random() < 0.5 else materialize("mutated", route, rng, blob, value, text, target)[0]
        return [one] * CONCURRENCY
    raise ValueError(f"unknown fuzz kind {kind}")


KINDS = {  # kind -> weight
    "valid": 12, "mutated": 22, "garbage_body": 6, "garbage_wire": 5, "wrong_type": 10, "numbers": 8,
    "deep_json": 3, "bad_encoding": 6, "control_chars": 8, "oversize_body": 1, "oversize_headers": 2,
    "bad_framing": 5, "bad_request_line": 4, "concurrent": 3, "refused": 5,
}


# ---------------------------------------------------------------------------------------------
# checking


class _Runner:
    def __init__(self, target: Target, stats: Stats):
        self.target = target
        self.stats = stats
        self.failure: FuzzFailure | None = None
        self.limit = 0  # stop sending once this many requests went out

    def fail(self, msg: str, req: Req, resp: Resp | None, case: str) -> None:
        t = self.target
        answer = "" if resp is None else f"; answer: {resp.status} {resp.error or ''} {resp.body[:300]!r}"
        self.failure = FuzzFailure(
            f"fuzz {t.name} [seed {self.stats.seed}] request #{self.stats.requests} ({case}): {msg}; "
            f"request: {req.short()}{answer}. Replay: THINGBID_FUZZ_SEED={self.stats.seed} "
            f"python -m pytest tests/fuzz -k {t.name}")

    def _send(self, req: Req) -> Resp:
        resp = send(self.target.host, self.target.port, req)
        self.stats.requests += 1
        self.stats.status[resp.status if resp.status is not None else "dropped"] += 1
        return resp

    def _judge(self, req: Req, resp: Resp, case: str) -> bool:
        if resp.status is None:
            self.fail(f"no HTTP answer ({resp.error})", req, resp, case)
            return False
        if resp.status >= 500:
            self.fail(f"answered {resp.status}", req, resp, case)
            return False
        if 400 <= resp.status < 500 and not _is_head(req):
            problem = self.target.reason(req, resp) if self.target.reason_sees_request else self.target.reason(resp)
            if problem:
                self.fail(problem, req, resp, case)
                return False
        return True

    def check(self, kind: str, route: Route, seed: int, blob: bytes, value, text: str) -> None:
        if self.failure is not None or self.stats.requests >= self.limit:
            return
        rng = random.Random(seed)
        case = f"{kind} {route.method} {route.path}"
        try:
            reqs = materialize(kind, route, rng, blob, value, text, self.target)
        except Exception as exc:  # noqa: BLE001 - a broken valid-request builder is a harness failure
            self.failure = FuzzFailure(f"fuzz {self.target.name} [seed {self.stats.seed}]: building {case}: "
                                       f"{type(exc).__name__}: {exc}")
            return
        self.stats.kinds[kind] += len(reqs)
        before = self.target.digest()
        if len(reqs) == 1:
            resps = [self._send(reqs[0])]
        else:
            resps: list[Resp | None] = [None] * len(reqs)

            def go(i):
                resps[i] = send(self.target.host, self.target.port, reqs[i])

            threads = [threading.Thread(target=go, args=(i,)) for i in range(len(reqs))]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            self.stats.requests += len(reqs)
            for r in resps:
                self.stats.status[r.status if r.status is not None else "dropped"] += 1
        for req, resp in zip(reqs, resps, strict=True):
            if not self._judge(req, resp, case):
                return
        if kind == "valid" and route.valid is not None and not self.target.accepted(resps[0]):
            self.fail(f"a valid request was refused ({resps[0].status})", reqs[0], resps[0], case)
            return
        if kind == "refused" and route.refused is not None and not self.target.refused(resps[0]):
            self.fail(f"a request that must be refused was answered {resps[0].status}", reqs[0], resps[0], case)
            return
        if all(self.target.refused(r) for r in resps):
            after = self.target.digest()
            if after != before:
                self.fail(f"refused, yet the state changed: {before!r} -> {after!r}", reqs[0], resps[0], case)


def _is_head(req: Req) -> bool:  # answers to HEAD have no body to carry a reason
    return req.method == "HEAD" or (req.raw is not None and req.raw.split(None, 1)[:1] == [b"HEAD"])


def resolve_seed(seed: int | None = None) -> int:
    if seed is not None:
        return seed
    env = os.environ.get("THINGBID_FUZZ_SEED")
    return int(env) if env else random.SystemRandom().randrange(2**32)


def run(target: Target, requests: int = 20_000, seed: int | None = None, per_example: int = 25) -> Stats:
    """Send at least ``requests`` generated requests to ``target``; raises FuzzFailure on the first
    broken rule (the message carries the seed). Returns the counts."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed
    from hypothesis import strategies as st

    seed = resolve_seed(seed)
    stats = Stats(target.name, seed)
    runner = _Runner(target, stats)
    runner.limit = requests
    kinds = [k for k, w in KINDS.items() for _ in range(w)]
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=8)
    # per case: kind, route and a seed for the case's own choices; per example (shared by its
    # cases, each mutates them its own way): garbage bytes, a JSON value, a text
    case = st.tuples(st.sampled_from(kinds), st.integers(0, len(target.routes) - 1), st.integers(0, 2**32 - 1))
    example = st.tuples(st.lists(case, min_size=per_example, max_size=per_example), st.binary(max_size=300),
                        st.lists(json_values, min_size=1, max_size=3), st.lists(st.text(max_size=24), min_size=1,
                                                                             max_size=3))
    t0 = time.perf_counter()
    round_ = 0
    while stats.requests < requests and runner.failure is None:
        left = requests - stats.requests
        examples = max(1, -(-left // per_example))

        @settings(max_examples=examples, database=None, deadline=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck), print_blob=False)
        @hseed(seed + round_)
        @given(example)
        def prop(ex):
            cases, blob, values, texts = ex
            for i, (kind, r, s) in enumerate(cases):
                cut = s % (len(blob) + 1)
                runner.check(kind, target.routes[r], s, blob[cut:] + blob[:cut], values[i % len(values)],
                             texts[i % len(texts)])

        prop()
        round_ += 1
    stats.seconds = time.perf_counter() - t0
    if runner.failure is not None:
        raise runner.failure
    return stats
