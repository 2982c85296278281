"""Typical appliance TDs (~1.5 KB) for tests, benchmarks and demos."""

from __future__ import annotations

import random

from exchange.geo import BASE32
from exchange.wot.validate import TD10_CONTEXT, TD11_CONTEXT

APPLIANCES = {
    "Refrigerator": [("temperature", "number", "degree Celsius"), ("doorOpen", "boolean", None),
                     ("powerDraw", "number", "watt"), ("humidity", "number", "percent")],
    "WashingMachine": [("drumSpeed", "integer", "revolutions per minute"), ("waterTemperature", "number", "degree Celsius"),
                       ("powerDraw", "number", "watt"), ("programme", "string", None)],
    "HeatPump": [("flowTemperature", "number", "degree Celsius"), ("outdoorTemperature", "number", "degree Celsius"),
                 ("powerDraw", "number", "watt"), ("cop", "number", None)],
    "AirQualitySensor": [("pm25", "number", "microgram per cubic metre"), ("co2", "number", "parts per million"),
                         ("temperature", "number", "degree Celsius"), ("humidity", "number", "percent")],
    "SmartMeter": [("energy", "number", "kilowatt hour"), ("powerDraw", "number", "watt"),
                   ("voltage", "number", "volt"), ("current", "number", "ampere")],
}


def appliance_td(kind: str = "Refrigerator", geohash: str = "u33db", device_id: str = "urn:dev:thingbid:0001",
                 base: str = "https://agent.example:8443/things/0001", tags: tuple[str, ...] = ("kitchen",)) -> dict:
    """A TD 1.1 for a simulated appliance, the shape the device agent builds."""
    props = {}
    for name, typ, unit in APPLIANCES[kind]:
        p = {"title": name[0].upper() + name[1:], "type": typ, "readOnly": True, "observable": True,
             "forms": [{"href": f"{base}/properties/{name}", "op": ["readproperty", "observeproperty"]}]}
        if unit:
            p["unit"] = unit
        if typ in ("number", "integer"):
            p["minimum"] = -50 if "emperature" in name else 0
            p["maximum"] = 5000
        props[name] = p
    return {
        "@context": [TD10_CONTEXT, TD11_CONTEXT, {"tb": "https://thingbid.example/ns#"}],
        "@type": ["Thing", kind],
        "id": device_id,
        "title": f"{kind} {device_id[-4:]}",
        "description": f"A household {kind.lower()} sharing anonymised readings through Thingbid.",
        "securityDefinitions": {"bearer_sc": {"scheme": "bearer", "in": "header", "format": "jwt", "alg": "EdDSA"}},
        "security": "bearer_sc",
        "properties": props,
        "events": {"alert": {"title": "Alert", "data": {"type": "string"},
                             "forms": [{"href": f"{base}/events/alert", "op": "subscribeevent",
                                        "subprotocol": "sse"}]}},
        "geohash": geohash,
        "tags": list(tags),
    }


def random_geohash(rng: random.Random, precision: int = 5, prefix: str = "") -> str:
    return prefix + "".join(rng.choice(BASE32) for _ in range(precision - len(prefix)))
