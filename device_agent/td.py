"""Build the device's W3C WoT Thing Description (TD 1.1) from its profile and config.

What goes in: the appliance type, the properties for sale (units, schemas), events, the
agent's HTTP endpoints as forms, a bearer security scheme for access keys, the geohash cell
and owner-chosen tags. What never goes in: the owner's address, name or precise location,
or anything that could link this device to the owner's other devices.
"""

from __future__ import annotations

from device_agent.anonymise import coarse_location
from device_agent.config import AgentConfig
from device_agent.profiles import Profile, profile
from exchange.wot import TD10_CONTEXT, TD11_CONTEXT, canonical_td, td_hash, validate_td

NAMESPACE = "https://thingbid.example/ns#"
SECURITY_NAME = "bearer_sc"


def device_urn(device_id_hex: str) -> str:
    return f"urn:thingbid:device:{device_id_hex}"


def relay_base(relay_url: str, device_id_hex: str) -> str:
    """Where a relay serves this device's WoT API (``exchange.relay``)."""
    return f"{relay_url.rstrip('/')}/devices/{device_id_hex}"


def build_td(config: AgentConfig, device_id_hex: str, base_url: str, prof: Profile | None = None) -> dict:
    """The TD for this device; validated by ``exchange.wot.validate_td`` before it is returned.

    With relays configured every form points at each relay in turn (the first is the TD's base;
    a consumer that cannot reach it may use the next form) and ``base_url`` is not used: the home's
    own address never goes on chain."""
    prof = prof or profile(config.appliance, config.sell)
    bases = [relay_base(r, device_id_hex) for r in config.relay_urls] or [base_url.rstrip("/")]
    base = bases[0]
    props = {}
    for p in prof.properties:
        # contentType defaults to application/json in TD 1.1, so it is left out (the TD goes on chain).
        aff = {"title": p.title, **p.schema(), "readOnly": True,
               "forms": [{"href": f"{b}/properties/{p.name}", "op": "readproperty"} for b in bases]}
        props[p.name] = aff
    events = {}
    for e in prof.events:  # the data schema describes the longpoll answer; its time is in X-Event-Time
        events[e.name] = {"title": e.title, "data": e.data,
                          "forms": [{"href": f"{b}/events/{e.name}", "op": "subscribeevent",
                                     "subprotocol": "longpoll"} for b in bases]}
    td = {
        # TD 1.0's context first, then TD 1.1's (TD 1.1 §5.3.1.1 allows it): WoT clients built on TD 1.0
        # schemas (node-wot 0.9) refuse a TD whose first context is not TD 1.0's.
        "@context": [TD10_CONTEXT, TD11_CONTEXT, {"tb": NAMESPACE}],
        "@type": ["Thing", prof.device_type],
        "id": device_urn(device_id_hex),
        "title": f"{prof.title} {device_id_hex[:8]}",
        # Every byte goes on chain at check-in: say what a reader needs, once.
        "description": f"A household {prof.title.lower()}. A property answers its latest value (time in "
                       "X-Reading-Time); the action history, readings in your key's period.",
        "securityDefinitions": {
            # The Thingbid access key: an Ed25519-signed token (tb1.<claims>.<signature>) bought in an
            # auction and delivered sealed to the winner; sent as "Authorization: Bearer <key>".
            SECURITY_NAME: {"scheme": "bearer", "in": "header", "format": "tb1", "alg": "EdDSA"},
        },
        "security": SECURITY_NAME,
        "base": base + "/",
        "properties": props,
        "actions": {"history": history_action(prof, bases)},
        "events": events,
        # readmultipleproperties: ?names=a,b or a POST of a JSON array of names.
        "forms": [{"href": f"{b}/properties", "op": ["readallproperties", "readmultipleproperties"]} for b in bases],
        "geohash": coarse_location(config.lat, config.lon, config.geohash_precision),
        "tags": list(config.tags),
    }
    validate_td(td)
    return td


def history_action(prof: Profile, bases: list[str] | str) -> dict:
    """The ``history`` action: readings of one property in [from, to] (unix s) on a ``step`` grid,
    clamped to the caller's key period. Its output is what the server answers."""
    kinds = sorted({"number" if p.schema().get("type") == "integer" else p.schema().get("type") for p in prof.properties})
    value = {"type": kinds[0]} if len(kinds) == 1 else {"oneOf": [{"type": k} for k in kinds]}
    unix_s = {"type": "integer", "minimum": 0, "unit": "s"}
    return {
        "title": "Readings of a property",
        "safe": True, "idempotent": True,
        "input": {"type": "object", "required": ["property"], "properties": {
            "property": {"type": "string", "enum": [p.name for p in prof.properties]},
            "from": unix_s, "to": unix_s, "step": {**unix_s, "minimum": 1}}},
        "output": {"type": "object", "properties": {
            "property": {"type": "string"}, "unit": {"type": "string"}, "from": unix_s, "to": unix_s,
            "readings": {"type": "array", "items": {"type": "object", "required": ["t", "value"],
                                                      "properties": {"t": {"type": "number", "unit": "s"},
                                                                     "value": value}}}}},
        "forms": [{"href": f"{b}/actions/history", "op": "invokeaction"}
                  for b in ([bases] if isinstance(bases, str) else bases)],
    }


def td_bytes_and_hash(td: dict) -> tuple[bytes, bytes]:
    """(canonical bytes, keccak256) as the registry wants them."""
    return canonical_td(td), td_hash(td)
