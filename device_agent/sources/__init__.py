"""Device sources: what the agent sells comes from one of these (one ``Source`` interface).

- ``simulator``: the built-in simulated appliances (``appliance`` in the config);
- ``wot``: an existing WoT Thing over HTTP, its TD consumed from ``url``;
- ``mqtt``: topics on an MQTT broker mapped to properties.

The config's ``source`` object selects one (``{}``: the simulator of ``appliance``); the
upstream's credentials live in the encrypted credential store, never in the config.
``parse_spec`` reads the short form the CLIs take: ``wot:URL``, ``mqtt:URL#TOPIC``,
``simulator:KIND``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from device_agent.errors import AgentConfigError
from device_agent.sources.base import Reading, Sink, Source, SourceError

DAY = 86_400

__all__ = ["Reading", "Sink", "Source", "SourceError", "SOURCE_KINDS", "make_source", "parse_spec", "resolve_spec",
           "validate_source_config"]

SOURCE_KINDS = ("simulator", "wot", "mqtt")
UPSTREAM_TD_FILE = "upstream-td.json"
_KEYS = {"simulator": {"kind", "sample_seconds"},
         "wot": {"kind", "url", "auth", "poll_seconds"},
         "mqtt": {"kind", "url", "properties", "events", "title", "device_type"}}


def source_kind(source: dict) -> str:
    return source.get("kind", "simulator") if source else "simulator"


def validate_source_config(source: dict) -> None:
    """Shape of the config's ``source`` object (pure: no network)."""
    if not isinstance(source, dict):
        raise AgentConfigError(f"source must be an object, got {source!r}")
    kind = source_kind(source)
    if kind not in SOURCE_KINDS:
        raise AgentConfigError(f"source kind {kind!r} is not one of {', '.join(SOURCE_KINDS)}")
    unknown = sorted(set(source) - _KEYS[kind])
    if unknown:
        raise AgentConfigError(f"{kind} source: unknown keys {', '.join(unknown)} (known: {', '.join(sorted(_KEYS[kind]))})")
    if kind == "wot":
        from device_agent.sources.wot import AUTH_KINDS

        url = source.get("url", "")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise AgentConfigError(f"wot source url {url!r} must start with http:// or https://")
        if "@" in urlsplit(url).netloc:
            raise AgentConfigError("put the upstream login in the credential store, not in the WoT URL")
        if source.get("auth", "nosec") not in AUTH_KINDS:
            raise AgentConfigError(f"wot source auth must be one of {', '.join(AUTH_KINDS)}")
        poll = source.get("poll_seconds", 10)
        if not isinstance(poll, int | float) or isinstance(poll, bool) or poll <= 0:
            raise AgentConfigError(f"wot source poll_seconds must be positive, got {poll!r}")
    if kind == "simulator":
        sample = source.get("sample_seconds", 60)
        if type(sample) is not int or not 1 <= sample <= 3600:
            raise AgentConfigError(f"simulator source sample_seconds must be an integer 1..3600, got {sample!r}")
    if kind == "mqtt":
        from device_agent.sources.mqtt import broker_address, parse_mapping

        broker_address(source.get("url", ""))
        parse_mapping(source)


def parse_spec(spec: str) -> dict:
    """``wot:URL`` / ``mqtt:URL#TOPIC`` / ``simulator:KIND`` -> a partial source object
    (for MQTT: {"kind", "url", "topic"}; the mapping is discovered from the topic)."""
    kind, sep, rest = spec.partition(":")
    if not sep or kind not in SOURCE_KINDS or not rest:
        raise AgentConfigError(f"source {spec!r} must be wot:URL, mqtt:URL#TOPIC or simulator:KIND")
    if kind == "wot":
        return {"kind": "wot", "url": rest}
    if kind == "mqtt":
        url, _, topic = rest.partition("#")
        if not topic:
            raise AgentConfigError(f"mqtt source {spec!r} names no topic: mqtt:mqtt://host:1883#some/topic")
        from device_agent.sources.mqtt import broker_address

        broker_address(url)
        return {"kind": "mqtt", "url": url, "topic": topic}
    return {"kind": "simulator", "appliance": rest}


def resolve_spec(spec: str, *, auth: str | None = None, creds: dict[str, str] | None = None,
                 units: dict[str, str] | None = None, title: str = "", device_type: str = "",
                 discover_seconds: float = 30.0) -> dict:
    """The config's ``source`` object for a CLI spec (``parse_spec``); an MQTT topic's mapping is
    learnt from its first message (network). ``{}`` for a simulator spec."""
    part = parse_spec(spec)
    kind = part["kind"]
    if kind == "simulator":
        return {}
    if kind == "wot":
        return {"kind": "wot", "url": part["url"], **({"auth": auth} if auth and auth != "nosec" else {})}
    if auth not in (None, "nosec", "basic"):
        raise AgentConfigError("an MQTT broker takes auth nosec or basic (username/password)")
    from device_agent.sources.mqtt import discover_mapping

    mapping = discover_mapping(part["url"], part["topic"], creds=creds or {}, timeout=discover_seconds, units=units)
    return {"kind": "mqtt", "url": part["url"], **mapping, "title": title or "Sensor",
            "device_type": device_type or "Sensor"}


def make_source(config, data_dir: Path, creds: dict[str, str], clock: Callable[[], float],
                last_recorded: Callable[[], float | None] = lambda: None) -> Source:
    """The source the agent's ``config`` names (credentials already decrypted)."""
    src = config.source or {}
    kind = source_kind(src)
    if kind == "simulator":
        from device_agent.sources.simulated import SimulatedSource

        return SimulatedSource(config.appliance, config.seed, config.tz_offset_h, clock=clock,
                               sample_seconds=(sample := src.get("sample_seconds", 60)),
                               backfill_seconds=min(DAY, 1440 * sample),  # at most a day, at most 1440 samples
                               last_recorded=last_recorded)
    if kind == "wot":
        from device_agent.sources.wot import WotSource

        return WotSource(src["url"], auth=src.get("auth", "nosec"), creds=creds,
                         poll_seconds=src.get("poll_seconds", 10), td_cache=Path(data_dir) / UPSTREAM_TD_FILE,
                         sell=config.sell, sell_events=config.sell_events)
    from device_agent.sources.mqtt import MqttSource

    return MqttSource(src["url"], src, creds=creds, title=src.get("title", "Sensor"),
                      device_type=src.get("device_type", "Sensor"), sell=config.sell, sell_events=config.sell_events)
