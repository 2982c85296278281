"""The device's WoT HTTP server (Flask app factory): exactly what its TD says (TD 1.1 + HTTP binding).

- ``GET /.well-known/wot``: the TD (public: it is in the registry anyway).
- ``GET /properties`` (readallproperties): ``{name: value}`` of every property for sale;
  ``?names=a,b`` or ``POST`` of a JSON array of names (readmultipleproperties): those only.
- ``GET /properties/<name>`` (readproperty): the latest value, bare, valid against the property's
  data schema; its time in ``X-Reading-Time`` (unix s) and ``Last-Modified``; its unit is in the TD.
- ``POST /actions/history`` (invokeaction): input ``{property, from?, to?, step?}`` (unix s),
  output ``{property, unit, from, to, readings: [{t, value}]}`` within the key's period.
- ``GET /events/<name>`` (subscribeevent, subprotocol ``longpoll``): waits for the next event and
  answers its data, bare; its time in ``X-Event-Time``; 204 when none came within the wait. ``HEAD``
  answers at once (node-wot's handshake). ``?since=&timeout=``: the recorded events after ``since``
  as ``{event, until, events}`` (long poll up to 25 s), at most 31 days of them per answer; ask again
  with ``since=<until>`` for the next page. A key may have two waiting polls open at once (each
  holds a server thread); a third is 429 ``too_many_waiting``.
- ``POST /sealed``: a request sealed to the device's X25519 key (``exchange.relay.e2e``), answered
  sealed with the reply key inside it: what a relay in between can neither read nor forge.

Every data request needs ``Authorization: Bearer <access token>``. The token must be signed
by this device's Ed25519 key, name this device, be within [not_before, not_after) on the
agent's clock, and not be revoked. History is clamped to the token's period: a key sells
the readings of its period, nothing before and nothing after. Refusals are JSON
``{"error": reason, "detail": ...}``: 401 when the caller is not authenticated (missing,
malformed, unsigned or forged token), 403 when an authentic token does not grant this
(wrong device, revoked, not yet valid, expired), 429 when rate limited (per client: an IPv4
address or an IPv6 /64; and per token), 500 ``internal_error`` without details otherwise.
Every answer carries ``Thingbid-Signature`` (the device's Ed25519 signature over the request's
target, the client's ``Thingbid-Nonce``, status and body) when the context holds the private key.
"""

from __future__ import annotations

import email.utils
import ipaddress
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from device_agent.profiles import Profile
from exchange.border import BorderError, parse_json, read_body
from exchange.crypto import TokenError, TokenFailure, verify_token
from exchange.ratelimit import RateLimiter
from exchange.relay.e2e import (
    NONCE_HEADER,
    SEALED_ANSWER_TYPE,
    SEALED_PATH,
    SIGNATURE_HEADER,
    AnswerError,
    open_request,
    seal_answer,
    sign_answer,
)

UNAUTHENTICATED = {TokenFailure.MALFORMED, TokenFailure.BAD_SIGNATURE}
MAX_BODY = 4096  # bodies are small: an action input, a list of names
MAX_LONGPOLL_S = 25.0
MAX_LONGPOLLS_PER_TOKEN = 2  # each waiting poll holds a server thread for up to MAX_LONGPOLL_S
MAX_SUBSCRIBE_WAIT_S = 300.0  # a longpoll subscription answers 204 after this without an event
EVENT_CHECK_S = 0.5
MAX_HISTORY_TIME = 2**40
MAX_EVENTS_SPAN_S = 31 * 86_400  # one answer lists at most this much; "until" pages on (simulator cap: 92 days)
_DIGITS = re.compile(r"[0-9]{1,20}\Z")  # ASCII only: int() would also take " 1", "+1", "1_0", "١"


class _BadRequest(Exception):
    """A query parameter is malformed (answered 400, never raised out of the app)."""


class Readings(Protocol):
    """What the server serves: the agent's ``RecordedData`` (a source + its recording); a
    ``Simulator`` answers the same calls as a pure function of time (tests)."""

    def latest(self, name: str, now: int) -> dict: ...

    def history(self, name: str, start: int, end: int, step: int | None = None) -> list[dict]: ...

    def events(self, start: float, end: float, name: str | None = None) -> list[dict]: ...


@dataclass
class ServingContext:
    device_id_hex: str
    ed25519_public: bytes
    data: Readings
    profile: Profile
    td: Callable[[], dict]
    clock: Callable[[], int]
    revoked: Callable[[], frozenset]
    rate_per_second: float = 20.0
    rate_burst: int = 40
    rate_max_keys: int = 10_000  # clients and access keys the limiter remembers (bounded memory)
    wall: Callable[[], float] = time.time  # when readings and events happen (a chain clock may run ahead)
    subscribe_wait_s: float = MAX_SUBSCRIBE_WAIT_S
    # Given, every answer is signed (Thingbid-Signature) and POST /sealed opens requests sealed to
    # the device (exchange.relay.e2e): what a relay between buyer and device can neither forge nor read.
    ed25519_private: bytes = field(default=b"", repr=False)
    x25519_private: bytes = field(default=b"", repr=False)


def client_key(addr: str | None) -> str:
    """Rate-limit key of a client address: IPv4 per address, IPv6 per /64 (what one host is given)."""
    try:
        ip = ipaddress.ip_address(addr or "")
    except ValueError:
        return "ip:" + (addr or "?")
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.version == 6:
        return "ip6:" + str(ipaddress.IPv6Network((ip, 64), strict=False).network_address)
    return "ip:" + str(ip)


def http_date(t: float) -> str:
    return email.utils.formatdate(t, usegmt=True)


def _value(value, headers: dict):
    """A bare JSON value (``jsonify`` of a scalar) with the headers that say when it was taken."""
    resp = jsonify(value)
    for k, v in headers.items():
        resp.headers[k] = v
    return resp


def _error(status: int, reason: str, detail: str = "", headers: dict | None = None):
    resp = jsonify({"error": reason, "detail": detail})
    resp.status_code = status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def create_app(ctx: ServingContext) -> Flask:
    app = Flask("device_agent")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    limiter = RateLimiter(ctx.rate_per_second, ctx.rate_burst, max_keys=ctx.rate_max_keys)
    waiting: dict[str, int] = {}  # token id -> long polls now waiting
    waiting_lock = threading.Lock()
    props = {p.name: p for p in ctx.profile.properties}
    events = {e.name: e for e in ctx.profile.events}

    def limited(key: str):
        wait = limiter.take(key)
        if wait:
            return _error(429, "rate_limited", f"too many requests; retry in {wait:.2f} s",
                          {"Retry-After": str(max(1, math.ceil(wait)))})
        return None

    def limited_client():
        # A sealed request was counted against its client when it arrived (POST /sealed).
        return None if request.environ.get("thingbid.sealed") else limited(client_key(request.remote_addr))

    def authorise():
        """(claims, None) or (None, error response)."""
        refused = limited_client()
        if refused:
            return None, refused
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None, _error(401, "missing_token", "send Authorization: Bearer <access key>",
                                {"WWW-Authenticate": 'Bearer realm="thingbid"'})
        try:
            claims = verify_token(token.strip(), ctx.ed25519_public, device_id=ctx.device_id_hex,
                                  now=ctx.clock(), revoked=ctx.revoked())
        except TokenError as exc:
            status = 401 if exc.reason in UNAUTHENTICATED else 403
            headers = {"WWW-Authenticate": 'Bearer realm="thingbid", error="invalid_token"'} if status == 401 else {}
            return None, _error(status, exc.reason.value, str(exc), headers)
        refused = limited("token:" + claims.token_id)
        return (None, refused) if refused else (claims, None)

    def int_arg(name: str, default=None, minimum: int | None = None):
        raw = request.args.get(name)
        if raw is None or raw == "":
            return default
        if not _DIGITS.match(raw):
            raise _BadRequest(f"query parameter {name} must be an integer, got {raw[:40]!r}")
        v = int(raw)
        if minimum is not None and v < minimum:
            raise _BadRequest(f"query parameter {name} must be >= {minimum}")
        if not 0 <= v < 2**40:
            raise _BadRequest(f"query parameter {name} is out of range")
        return v

    @app.before_request
    def read_the_body_once():
        """Every body is read here, bounded and strictly (a bad chunked encoding is a JSON 400, not
        werkzeug's HTML one or an error out of ``request.get_data``); views and the answer's
        signature use this one copy."""
        g.body = b""
        try:
            g.body = read_body(request, MAX_BODY)
        except BorderError as exc:
            return _error(exc.status, "too_large" if exc.status == 413 else "bad_request", exc.reason)
        return None

    def json_body():
        """The JSON body (None without a JSON content type); nesting beyond the recursion limit
        is a 400 here, not a RecursionError out of the view (what ``request.get_json`` raised)."""
        if not request.is_json:
            return None
        try:
            return parse_json(g.body)
        except BorderError as exc:
            raise _BadRequest(f"the body is not JSON this device can take: {exc.reason}") from None

    @app.errorhandler(_BadRequest)
    def bad_request(exc):
        return _error(400, "bad_request", str(exc))

    @app.errorhandler(404)
    def not_found(_exc):
        return _error(404, "not_found", f"no such resource: {request.path}")

    @app.errorhandler(405)
    def not_allowed(_exc):
        return _error(405, "method_not_allowed", "this device is read-only: see its TD for each operation's method")

    @app.errorhandler(413)
    def too_large(_exc):
        return _error(413, "too_large", "request body too large")

    @app.errorhandler(HTTPException)
    def http_error(exc):  # any other werkzeug refusal (a malformed request): JSON like the rest
        code = exc.code or 400
        return _error(code, exc.name.lower().replace(" ", "_"), exc.description or "")

    @app.errorhandler(500)
    def internal(_exc):
        # Flask has logged the traceback; the client learns nothing about the agent's internals.
        return _error(500, "internal_error", "the device could not answer; try again later")

    # Buyers' browsers read with their key from other sites (issue 18): the API is bearer-key only (no
    # cookies, nothing ambient), so any origin may ask and learns no more than its key allows.
    @app.before_request
    def preflight():
        if request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method"):
            resp = Response(status=204)
            resp.headers["Access-Control-Allow-Methods"] = "GET, POST, HEAD"
            resp.headers["Access-Control-Allow-Headers"] = f"Authorization, Content-Type, {NONCE_HEADER}"
            resp.headers["Access-Control-Max-Age"] = "600"
            return resp
        return None

    @app.after_request
    def cors(resp):
        resp.headers["Access-Control-Allow-Origin"] = "*"
        resp.headers["Access-Control-Expose-Headers"] = f"{SIGNATURE_HEADER}, Retry-After, WWW-Authenticate"
        return resp

    @app.after_request
    def signed(resp):
        if ctx.ed25519_private and not resp.is_streamed:
            target = request.environ.get("REQUEST_URI") or request.environ.get("RAW_URI") or request.path
            resp.headers[SIGNATURE_HEADER] = sign_answer(
                ctx.ed25519_private, ctx.device_id_hex, request.method, target,
                request.headers.get(NONCE_HEADER, ""), resp.status_code, resp.headers.get("Content-Type", ""),
                resp.get_data(), int(time.time()), g.get("body", b""))
        return resp

    @app.post(SEALED_PATH)
    def sealed():
        refused = limited(client_key(request.remote_addr))
        if refused:
            return refused
        if not ctx.x25519_private:
            return _error(404, "not_found", "this device takes no sealed requests")
        try:
            method, target, headers, reply_key, body = open_request(ctx.x25519_private, ctx.device_id_hex, g.body)
        except AnswerError as exc:
            return _error(400, "bad_sealed_request", str(exc))
        if target.split("?", 1)[0] == SEALED_PATH:
            return _error(400, "bad_sealed_request", "a sealed request cannot hold another")
        inner = app.test_client().open(target, method=method, headers=headers, data=body or None, environ_base={
            "REMOTE_ADDR": request.remote_addr or "", "thingbid.sealed": True, "REQUEST_URI": target})
        box = seal_answer(reply_key, ctx.device_id_hex, inner.status_code, list(inner.headers.items()), inner.get_data())
        return Response(box, 200, content_type=SEALED_ANSWER_TYPE)

    @app.get("/.well-known/wot")
    def thing_description():
        refused = limited_client()
        if refused:
            return refused
        resp = jsonify(ctx.td())
        resp.headers["Content-Type"] = "application/td+json"
        return resp

    @app.route("/properties", methods=["GET", "POST"])
    def all_properties():
        _claims, refused = authorise()
        if refused:
            return refused
        names = list(props)
        if request.method == "POST":
            asked = json_body()
            if not isinstance(asked, list) or not asked or not all(isinstance(n, str) for n in asked):
                raise _BadRequest("readmultipleproperties takes a non-empty JSON array of property names")
            names = asked
        elif request.args.get("names") is not None:
            names = [n for n in request.args["names"].split(",") if n]
            if not names:
                raise _BadRequest("query parameter names must list property names, comma separated")
        unknown = [n for n in names if n not in props]
        if unknown:
            return _error(404, "unknown_property", f"this device sells no property {unknown[0][:100]!r} "
                                                   f"(sells: {', '.join(props)})")
        now = ctx.clock()
        return jsonify({n: ctx.data.latest(n, now)["value"] for n in dict.fromkeys(names)})

    @app.get("/properties/<name>")
    def read_property(name):
        _claims, refused = authorise()
        if refused:
            return refused
        if name not in props:
            return _error(404, "unknown_property", f"this device sells no property {name!r} (sells: {', '.join(props)})")
        if any(k in request.args for k in ("from", "to", "step")):
            raise _BadRequest("a property answers its latest value; invoke the action 'history' "
                              "(POST /actions/history with {property, from, to, step}) for its history")
        latest = ctx.data.latest(name, ctx.clock())
        return _value(latest["value"], {"X-Reading-Time": str(latest["t"]), "Last-Modified": http_date(latest["t"])})

    @app.post("/actions/history")
    def history():
        claims, refused = authorise()
        if refused:
            return refused
        ask = json_body()
        if not isinstance(ask, dict):
            raise _BadRequest("the history action takes a JSON object {property, from, to, step}")
        extra = sorted(set(ask) - {"property", "from", "to", "step"})
        if extra:
            raise _BadRequest(f"the history action takes no member {extra[0][:40]!r} (takes property, from, to, step)")
        name = ask.get("property")
        if not isinstance(name, str):
            raise _BadRequest("member property must name a property (a string)")
        if name not in props:
            return _error(404, "unknown_property", f"this device sells no property {name[:100]!r} (sells: {', '.join(props)})")
        start, end, step = (json_int(ask, "from"), json_int(ask, "to"), json_int(ask, "step", minimum=1))
        now = ctx.clock()
        # The key sells its own period up to now: clamp, never extend.
        lo = max(start if start is not None else claims.not_before, claims.not_before)
        hi = min(end if end is not None else now, now, claims.not_after - 1)
        if hi < lo:
            return _error(400, "empty_range", f"no readings between {lo} and {hi} in this key's period "
                                              f"[{claims.not_before}, {claims.not_after})")
        return jsonify({"property": name, "unit": props[name].unit or "", "from": lo, "to": hi,
                        "readings": ctx.data.history(name, lo, hi, step)})

    def json_int(ask: dict, name: str, minimum: int = 0):
        v = ask.get(name)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            raise _BadRequest(f"member {name} must be an integer (unix s), got {str(v)[:40]!r}")
        if not minimum <= v < MAX_HISTORY_TIME:
            raise _BadRequest(f"member {name} must be in [{minimum}, 2^40)")
        return v

    @app.route("/events/<name>", methods=["GET", "HEAD"])
    def read_events(name):
        claims, refused = authorise()
        if refused:
            return refused
        if name not in events:
            return _error(404, "unknown_event", f"this device has no event {name!r} (has: {', '.join(events)})")
        if request.method == "HEAD":
            return "", 200  # a longpoll client's handshake: the subscription is accepted
        since = int_arg("since", default=None)
        timeout = min(float(int_arg("timeout", default=0)), MAX_LONGPOLL_S)
        subscribing = "since" not in request.args and "timeout" not in request.args
        if not subscribing and timeout <= 0:
            return poll_events(claims, name, since, time.monotonic())
        with waiting_lock:
            if waiting.get(claims.token_id, 0) >= MAX_LONGPOLLS_PER_TOKEN:
                return _error(429, "too_many_waiting", f"this key already has {MAX_LONGPOLLS_PER_TOKEN} long polls "
                              "open; wait for one to answer", {"Retry-After": "1"})
            waiting[claims.token_id] = waiting.get(claims.token_id, 0) + 1
        try:
            if subscribing:
                return next_event(claims, name, time.monotonic() + ctx.subscribe_wait_s)
            return poll_events(claims, name, since, time.monotonic() + timeout)
        finally:
            with waiting_lock:
                left = waiting.pop(claims.token_id) - 1
                if left:
                    waiting[claims.token_id] = left

    def next_event(claims, name, deadline):
        """The data of the first event after the subscription began, while the key is valid.

        Live events are in wall time and the key's validity is checked on the agent's clock (which
        a test chain may run ahead of wall time); the recorded history is what is clamped to the period."""
        lo = ctx.wall()
        while ctx.clock() < claims.not_after:
            hi = ctx.wall()
            found = [e for e in ctx.data.events(lo, hi, name) if e["t"] > lo] if hi >= lo else []
            if found:
                return _value(found[0].get("data", {}), {"X-Event-Time": str(found[0]["t"]),
                                                          "Last-Modified": http_date(found[0]["t"])})
            if time.monotonic() >= deadline:
                break
            time.sleep(min(EVENT_CHECK_S, max(0.0, deadline - time.monotonic())))
        return "", 204

    def poll_events(claims, name, since, deadline):
        while True:
            now = min(ctx.clock(), claims.not_after - 1)
            lo = max(claims.not_before, since + 1 if since is not None else now - 3600)
            until = min(now, lo + MAX_EVENTS_SPAN_S - 1)  # a long key's history is paged via "until"
            found = ctx.data.events(lo, until, name) if until >= lo else []
            if found or until < now or time.monotonic() >= deadline:
                return jsonify({"event": name, "until": until, "events": found})
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))

    return app
