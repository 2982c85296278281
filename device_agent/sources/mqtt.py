"""MQTT topics as a source, the way most home devices publish (Zigbee2MQTT, Tasmota, Home
Assistant's MQTT integration): a mapping of topics to properties, each with a JSON payload
path (``temperature``, ``ENERGY.Power``, ``values.0``; empty: the whole payload), a JSON type
and a unit; and of topics to events.

``discover_mapping`` builds a mapping from the first message on a topic (a JSON object's scalar
members, or a plain value), for ``device-agent init --source mqtt://host#topic``.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from device_agent.errors import AgentConfigError, UnknownPropertyError
from device_agent.profiles import Profile
from device_agent.simulators.base import EventSpec, PropertySpec
from device_agent.sources.base import Reading, Sink, Source, SourceError

log = logging.getLogger(__name__)
SCALAR_TYPES = ("number", "integer", "boolean", "string")
_TRUE, _FALSE = {"on", "true", "1", "yes", "open"}, {"off", "false", "0", "no", "closed"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")


def broker_address(url: str) -> tuple[str, int, bool]:
    """(host, port, tls) of ``mqtt://host[:1883]`` or ``mqtts://host[:8883]``."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise AgentConfigError(f"MQTT broker URL {url!r} must look like mqtt://host:1883 or mqtts://host:8883")
    if parts.username or parts.password:
        raise AgentConfigError("put the MQTT login in the credential store (--source-user/--source-password), "
                               "not in the broker URL")
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        raise AgentConfigError(f"MQTT broker URL {url!r} has a bad port") from None
    return parts.hostname, port, tls


def extract(payload: bytes, path: str):
    """The value at ``path`` (dot-separated keys / list indices) of a JSON payload; a payload that
    is not JSON counts as one string. KeyError when the path is absent."""
    text = payload.decode("utf-8", errors="replace").strip()
    try:
        value = json.loads(text)
    except ValueError:
        value = text
    for part in [p for p in path.split(".") if p] if path else []:
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise KeyError(path)
    return value


def coerce(value, kind: str):
    """``value`` as JSON type ``kind`` (Tasmota's "ON"/"OFF" as booleans, "21.5" as a number); ValueError if not."""
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError(f"{value!r} is not a boolean")
    if kind in ("number", "integer"):
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a {kind}")
        v = float(value) if isinstance(value, str) else value
        if not isinstance(v, int | float) or v != v or v in (float("inf"), float("-inf")):
            raise ValueError(f"{value!r} is not a {kind}")
        return int(v) if kind == "integer" else v
    if kind == "string":
        return value if isinstance(value, str) else json.dumps(value)
    raise ValueError(f"unknown type {kind!r}")


@dataclass(frozen=True)
class TopicProperty:
    name: str
    topic: str
    path: str = ""
    type: str = "number"
    unit: str | None = None
    title: str = ""
    minimum: float | None = None
    maximum: float | None = None


def parse_mapping(mapping: dict) -> tuple[list[TopicProperty], dict[str, str]]:
    """(properties, event name -> topic) from the config's ``properties``/``events`` objects."""
    props = []
    raw = mapping.get("properties")
    if not isinstance(raw, dict) or not raw:
        raise AgentConfigError("an MQTT source needs at least one property: {name: {topic, path, type, unit}}")
    for name, spec in raw.items():
        if not _NAME.match(name) or not isinstance(spec, dict) or not isinstance(spec.get("topic"), str):
            raise AgentConfigError(f"MQTT property {name!r} needs a name (letters, digits, _) and a topic")
        unknown = set(spec) - {"topic", "path", "type", "unit", "title", "minimum", "maximum"}
        if unknown:
            raise AgentConfigError(f"MQTT property {name!r}: unknown keys {', '.join(sorted(unknown))}")
        if spec.get("type", "number") not in SCALAR_TYPES:
            raise AgentConfigError(f"MQTT property {name!r}: type must be one of {', '.join(SCALAR_TYPES)}")
        if any(c in spec["topic"] for c in "+#") or not spec["topic"]:
            raise AgentConfigError(f"MQTT property {name!r}: topic {spec['topic']!r} must be one topic, no wildcards")
        props.append(TopicProperty(name, spec["topic"], spec.get("path", ""), spec.get("type", "number"),
                                   spec.get("unit"), spec.get("title") or name, spec.get("minimum"),
                                   spec.get("maximum")))
    events = {}
    for name, spec in (mapping.get("events") or {}).items():
        if not _NAME.match(name) or not isinstance(spec, dict) or not isinstance(spec.get("topic"), str):
            raise AgentConfigError(f"MQTT event {name!r} needs a name and a topic")
        events[name] = spec["topic"]
    return props, events


def _client(client_id: str, creds: dict[str, str], tls: bool):
    import paho.mqtt.client as mqtt

    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    if creds.get("username"):
        c.username_pw_set(creds["username"], creds.get("password"))
    if tls:
        c.tls_set()
    return c


def _connect(client, host: str, port: int, timeout: float) -> None:
    connected = threading.Event()
    result = {}

    def on_connect(_c, _u, _flags, reason_code, _props):
        result["rc"] = reason_code
        connected.set()

    client.on_connect = on_connect
    try:
        client.connect(host, port, keepalive=30)
    except OSError as exc:
        raise SourceError(f"MQTT broker {host}:{port} unreachable: {exc}") from None
    client.loop_start()
    if not connected.wait(timeout):
        client.loop_stop()
        raise SourceError(f"MQTT broker {host}:{port} did not answer the connect in {timeout:.0f} s")
    if result["rc"].is_failure:
        client.loop_stop()
        raise SourceError(f"MQTT broker {host}:{port} refused the connection: {result['rc']}")


def discover_mapping(url: str, topic: str, *, creds: dict[str, str] | None = None, timeout: float = 30.0,
                     units: dict[str, str] | None = None) -> dict:
    """A mapping from the first message on ``topic``: each scalar member of a JSON object is a
    property (its type from the value), or the whole payload one property named after the topic."""
    host, port, tls = broker_address(url)
    got = threading.Event()
    first: dict = {}
    client = _client(f"thingbid-discover-{uuid.uuid4().hex[:12]}", creds or {}, tls)

    def on_message(_c, _u, msg):
        if not got.is_set():
            first["payload"] = msg.payload
            got.set()

    client.on_message = on_message
    _connect(client, host, port, timeout)
    try:
        client.subscribe(topic, qos=1)
        if not got.wait(timeout):
            raise SourceError(f"no message on MQTT topic {topic!r} within {timeout:.0f} s: is the device publishing?")
    finally:
        client.loop_stop()
        client.disconnect()
    value = extract(first["payload"], "")
    units = units or {}

    def kind(v) -> str:
        return "boolean" if isinstance(v, bool) else "integer" if isinstance(v, int) else \
            "number" if isinstance(v, float) else "string"

    props = {}
    if isinstance(value, dict):
        for k, v in value.items():
            if _NAME.match(k) and (v is None or isinstance(v, bool | int | float | str)) and v is not None:
                # An integer in a sensor payload is usually a reading that happens to be whole.
                t = "number" if kind(v) == "integer" else kind(v)
                props[k] = {"topic": topic, "path": k, "type": t, **({"unit": units[k]} if k in units else {})}
    else:
        name = re.sub(r"[^A-Za-z0-9_]", "_", topic.rstrip("/").rsplit("/", 1)[-1]) or "value"
        name = name if _NAME.match(name) else "value"
        props[name] = {"topic": topic, "type": "number" if kind(value) in ("integer", "number") else kind(value),
                       **({"unit": units[name]} if name in units else {})}
    if not props:
        raise SourceError(f"the first message on {topic!r} has no scalar value to sell")
    unknown = sorted(set(units) - set(props))
    if unknown:
        raise AgentConfigError(f"--unit names {', '.join(unknown)}, not in the payload (has: {', '.join(props)})")
    return {"properties": props}


class MqttSource(Source):
    """Readings from the mapped topics of the broker at ``url`` (creds: username/password, optional)."""

    KIND = "mqtt"

    def __init__(self, url: str, mapping: dict, *, creds: dict[str, str] | None = None, title: str = "Sensor",
                 device_type: str = "Sensor", timeout: float = 10.0, sell: list[str] | None = None,
                 sell_events: list[str] | None = None):
        self.host, self.port, self.tls = broker_address(url)
        self.props, self.event_topics = parse_mapping(mapping)
        self.creds, self.timeout = creds or {}, timeout
        self.title, self.device_type = title, device_type
        self.sell, self.sell_events = sell, sell_events
        self._latest: dict[str, Reading] = {}
        self._client = None
        self._lock = threading.Lock()

    def offer(self) -> Profile:
        props = tuple(PropertySpec(p.name, p.title, p.type, p.unit, p.minimum, p.maximum) for p in self.props)
        events = tuple(EventSpec(n, n, {}) for n in self.event_topics)
        return Profile("mqtt", self.title, self.device_type, props, events)

    def read(self, name: str) -> Reading:
        if name not in {p.name for p in self.props}:
            raise UnknownPropertyError(f"the MQTT source maps no property {name!r}")
        r = self._latest.get(name)
        if r is None:
            raise SourceError(f"no reading of {name!r} received yet from its MQTT topic")
        return r

    def _on_message(self, sink: Sink, msg) -> None:
        t = time.time()
        for p in self.props:
            if p.topic != msg.topic or (self.sell is not None and p.name not in self.sell):
                continue
            try:
                value = coerce(extract(msg.payload, p.path), p.type)
            except (KeyError, ValueError) as exc:
                log.warning("MQTT source: %s on %s: %s", p.name, msg.topic, exc)
                continue
            r = Reading(p.name, t, value)
            self._latest[p.name] = r
            sink.reading(p.name, t, value)
        for name, topic in self.event_topics.items():
            if topic == msg.topic and (self.sell_events is None or name in self.sell_events):
                sink.event(name, t, {"data": extract(msg.payload, "")})

    def start(self, sink: Sink) -> None:
        with self._lock:
            if self._client is not None:
                return
            client = _client(f"thingbid-agent-{uuid.uuid4().hex[:12]}", self.creds, self.tls)
            topics = sorted({p.topic for p in self.props} | set(self.event_topics.values()))

            def on_connect(c, _u, _flags, reason_code, _props):
                if not reason_code.is_failure:  # also after a reconnect
                    c.subscribe([(topic, 1) for topic in topics])

            def on_message(_c, _u, msg):
                try:
                    self._on_message(sink, msg)
                except Exception:  # noqa: BLE001 - one bad message must not stop the feed
                    log.exception("MQTT source: message on %s not recorded", msg.topic)

            acked = threading.Event()
            client.on_message = on_message
            client.on_subscribe = lambda *_a: acked.set()
            _connect(client, self.host, self.port, self.timeout)
            client.on_connect = on_connect
            client.subscribe([(topic, 1) for topic in topics])
            # Started means subscribed: a message published after start() is not lost.
            if not acked.wait(self.timeout):
                client.loop_stop()
                client.disconnect()
                raise SourceError(f"MQTT broker {self.host}:{self.port} did not acknowledge the subscription")
            self._client = client

    def subscribed(self) -> bool:
        return self._client is not None

    def stop(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.loop_stop()
                self._client.disconnect()
                self._client = None

    def check(self) -> str:
        if self._client is None:
            probe = _client(f"thingbid-doctor-{uuid.uuid4().hex[:12]}", self.creds, self.tls)
            _connect(probe, self.host, self.port, self.timeout)
            probe.loop_stop()
            probe.disconnect()
        return f"mqtt: broker {self.host}:{self.port} answers; {len(self.props)} properties mapped"
