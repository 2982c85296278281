"""An existing W3C WoT Thing over HTTP as a source: its TD consumed from a URL, its properties read
(proxied) and polled, its events long-polled, all with the upstream's own credentials.

What the agent resells is derived from the upstream TD: property and event names, titles,
JSON schemas and units, the Thing's ``@type``. Nothing that names the upstream goes further:
no host, no href, no credentials, no id, no free-text description (``derive_offer`` keeps only
the schema terms listed in ``SCHEMA_KEYS`` and drops any string naming the upstream host).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from device_agent.errors import AgentConfigError, UnknownPropertyError
from device_agent.profiles import Profile
from device_agent.simulators.base import EventSpec, PropertySpec
from device_agent.sources.base import Reading, Sink, Source, SourceError

log = logging.getLogger(__name__)
AUTH_KINDS = ("nosec", "basic", "bearer")
SCHEMA_KEYS = ("type", "unit", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
               "enum", "const", "format", "minLength", "maxLength", "minItems", "maxItems", "items",
               "properties", "required", "title")
JSON_TYPES = ("number", "integer", "boolean", "string", "object", "array", "null")
MAX_TD_BYTES = 1_000_000
MAX_VALUE_BYTES = 100_000


def auth_headers(auth: str, creds: dict[str, str]) -> dict[str, str]:
    """The Authorization header for the upstream's security scheme."""
    if auth == "nosec":
        return {}
    if auth == "basic":
        if "username" not in creds or "password" not in creds:
            raise AgentConfigError("basic auth needs a username and a password in the credential store")
        raw = f"{creds['username']}:{creds['password']}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
    if auth == "bearer":
        if not creds.get("token"):
            raise AgentConfigError("bearer auth needs a token in the credential store")
        return {"Authorization": "Bearer " + creds["token"]}
    raise AgentConfigError(f"upstream auth {auth!r} is not one of {', '.join(AUTH_KINDS)}")


def _scrub(schema, host: str):
    """A copy of a JSON schema with only SCHEMA_KEYS (recursively) and no string naming ``host``."""
    if isinstance(schema, list):
        return [_scrub(x, host) for x in schema if not (isinstance(x, str) and host and host in x)]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for k, v in schema.items():
        if k not in SCHEMA_KEYS or (isinstance(v, str) and host and host in v):
            continue
        if k == "properties" and isinstance(v, dict):
            out[k] = {n: _scrub(s, host) for n, s in v.items() if not (host and host in n)}
        else:
            out[k] = _scrub(v, host)
    return out


def _humanise(term: str) -> str:
    words, cur = [], ""
    for c in term:
        if c.isupper() and cur:
            words.append(cur)
            cur = ""
        cur += c
    words.append(cur)
    return " ".join(words).capitalize()


def derive_offer(td: dict, url: str) -> Profile:
    """The offer of the upstream Thing: properties and events with titles, schemas and units."""
    if not isinstance(td, dict) or not isinstance(td.get("properties", {}), dict):
        raise SourceError("the upstream document is not a Thing Description (no properties object)")
    host = urlsplit(url).hostname or ""
    types = td.get("@type", [])
    types = [types] if isinstance(types, str) else types if isinstance(types, list) else []
    # Only plain terms: a prefixed one (saref:...) needs the upstream's @context.
    device_type = next((t for t in types if isinstance(t, str) and t != "Thing" and ":" not in t
                        and t.isidentifier()), "Thing")
    props = []
    for name, aff in td.get("properties", {}).items():
        if not isinstance(aff, dict) or not name.isidentifier() or (host and host in name):
            continue
        if aff.get("writeOnly"):
            continue
        schema = _scrub(aff, host)
        schema.pop("title", None)
        kind = schema.get("type") if schema.get("type") in JSON_TYPES else "string"
        schema["type"] = kind
        title = aff.get("title") if isinstance(aff.get("title"), str) and not (host and host in aff["title"]) else name
        props.append(PropertySpec(name, title[:80], kind, schema.get("unit"), schema.get("minimum"),
                                  schema.get("maximum"), tuple(schema.get("enum", ())) if kind == "string" else (),
                                  schema_json=json.dumps(schema, sort_keys=True)))
    events = []
    for name, aff in (td.get("events") or {}).items():
        if not isinstance(aff, dict) or not name.isidentifier() or (host and host in name):
            continue
        title = aff.get("title") if isinstance(aff.get("title"), str) and not (host and host in aff["title"]) else name
        events.append(EventSpec(name, title[:80], _scrub(aff.get("data", {}), host)))
    if not props:
        raise SourceError("the upstream Thing offers no readable property")
    return Profile("wot", _humanise(device_type) if device_type != "Thing" else "Thing", device_type,
                   tuple(props), tuple(events))


def _form_href(aff: dict, op: str, td: dict, url: str) -> str:
    """The href of the affordance's HTTP form for ``op``, absolute; forms on the TD's own host first."""
    base = td.get("base") or url
    forms = [f for f in aff.get("forms", []) if isinstance(f, dict) and isinstance(f.get("href"), str)
             and f.get("contentType", "application/json").split(";")[0].strip() == "application/json"]
    with_op = [f for f in forms if op in ([f["op"]] if isinstance(f.get("op"), str) else f.get("op") or [op])]
    hrefs = [urljoin(base, f["href"]) for f in with_op]
    hrefs = [h for h in hrefs if h.startswith(("http://", "https://"))]
    if not hrefs:
        raise SourceError(f"the upstream Thing has no HTTP form to {op}")
    same = [h for h in hrefs if urlsplit(h).netloc == urlsplit(url).netloc]
    return (same or hrefs)[0]


class WotSource(Source):
    """An upstream Thing at ``url``; ``auth`` one of nosec, basic, bearer with ``creds`` from the store."""

    KIND = "wot"

    def __init__(self, url: str, *, auth: str = "nosec", creds: dict[str, str] | None = None,
                 poll_seconds: float = 10.0, timeout: float = 10.0, td_cache: Path | None = None,
                 sell: list[str] | None = None, sell_events: list[str] | None = None):
        if not url.startswith(("http://", "https://")):
            raise AgentConfigError(f"WoT source URL {url!r} must start with http:// or https://")
        self.url, self.timeout, self.poll_seconds = url, timeout, poll_seconds
        self.headers = auth_headers(auth, creds or {})
        self.td_cache = td_cache
        self.sell, self.sell_events = sell, sell_events
        self._td: dict | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -------------------------------------------------------------- HTTP
    def _get(self, href: str, timeout: float | None = None, limit: int = MAX_VALUE_BYTES):
        req = urllib.request.Request(href, headers={"Accept": "application/json, application/td+json", **self.headers})
        where = urlsplit(href).path or "/"  # never the query (it may carry a key) nor the credentials
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:  # noqa: S310 - http(s) only
                body = resp.read(limit + 1)
        except urllib.error.HTTPError as exc:
            hint = " (the upstream refused the credentials)" if exc.code in (401, 403) else ""
            raise SourceError(f"upstream answered {exc.code} for {where}{hint}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SourceError(f"upstream Thing unreachable at {where}: {reason}") from None
        if len(body) > limit:
            raise SourceError(f"upstream answer for {where} is larger than {limit} bytes")
        try:
            return json.loads(body) if body.strip() else None
        except ValueError:
            raise SourceError(f"upstream answer for {where} is not JSON") from None

    def td(self, refresh: bool = False) -> dict:
        """The upstream TD (fetched once, cached in the data dir so a restart without the upstream
        still knows what it sells)."""
        if self._td is None or refresh:
            try:
                self._td = self._get(self.url, limit=MAX_TD_BYTES)
            except SourceError:
                if refresh or self.td_cache is None or not self.td_cache.exists():
                    raise
                self._td = json.loads(self.td_cache.read_text())
            else:
                if self.td_cache is not None:
                    self.td_cache.write_text(json.dumps(self._td))
        return self._td

    # ------------------------------------------------------------ Source
    def offer(self) -> Profile:
        return derive_offer(self.td(), self.url)

    def _property(self, name: str) -> dict:
        aff = self.td().get("properties", {}).get(name)
        if not isinstance(aff, dict) or name not in {p.name for p in self.offer().properties}:
            raise UnknownPropertyError(f"the upstream Thing has no readable property {name!r}")
        return aff

    def read(self, name: str) -> Reading:
        href = _form_href(self._property(name), "readproperty", self.td(), self.url)
        value = self._get(href)
        return Reading(name, time.time(), value)

    def start(self, sink: Sink) -> None:
        if self._threads:
            return
        self._stop.clear()
        offer = self.offer()
        props = [p.name for p in offer.properties if self.sell is None or p.name in self.sell]
        events = [e.name for e in offer.events if self.sell_events is None or e.name in self.sell_events]
        self._spawn("poll", self._poll, props, sink)
        for name in events:
            self._spawn(f"event-{name}", self._subscribe, name, sink)

    def _spawn(self, what: str, target, *args) -> None:
        t = threading.Thread(target=target, args=args, name=f"source-wot-{what}", daemon=True)
        t.start()
        self._threads.append(t)

    def _poll(self, names: list[str], sink: Sink) -> None:
        while not self._stop.is_set():
            for name in names:
                try:
                    r = self.read(name)
                    sink.reading(r.name, r.t, r.value)
                except SourceError as exc:
                    log.warning("WoT source: %s", exc)
                except Exception:  # noqa: BLE001 - the feed must outlive one bad answer
                    log.exception("WoT source: reading of %s not recorded", name)
            self._stop.wait(self.poll_seconds)

    def _subscribe(self, name: str, sink: Sink) -> None:
        """Long-poll the event's form; every answer is one event (node-wot's longpoll subprotocol)."""
        aff = self.td().get("events", {}).get(name, {})
        try:
            href = _form_href(aff, "subscribeevent", self.td(), self.url)
        except SourceError as exc:
            log.warning("WoT source: event %s: %s", name, exc)
            return
        while not self._stop.is_set():
            try:
                data = self._get(href, timeout=max(self.timeout, 30.0))
            except SourceError as exc:
                if "timed out" not in str(exc):
                    log.warning("WoT source: event %s: %s", name, exc)
                    self._stop.wait(min(self.poll_seconds, 5.0))
                continue
            if not self._stop.is_set():
                sink.event(name, time.time(), {"data": data})

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=0.5)  # a long poll in flight ends on its own (daemon thread)
        self._threads.clear()
