"""Appliance profiles: what a device of a kind exposes (properties with units and JSON schemas, events)."""

from __future__ import annotations

from dataclasses import dataclass

from device_agent.errors import AgentConfigError
from device_agent.simulators import SIMULATORS, EventSpec, PropertySpec, make_simulator


@dataclass(frozen=True)
class Profile:
    kind: str
    title: str
    device_type: str
    properties: tuple[PropertySpec, ...]
    events: tuple[EventSpec, ...]

    def property_schemas(self) -> dict[str, dict]:
        """name -> JSON schema (type, unit, bounds) of every property."""
        return {p.name: p.schema() for p in self.properties}

    def names(self) -> list[str]:
        return [p.name for p in self.properties]


def profile(kind: str, sell: list[str] | None = None) -> Profile:
    """The profile of simulated appliance ``kind``, restricted to the properties in ``sell`` (all when None)."""
    cls = type(make_simulator(kind))  # raises UnknownApplianceError with the known kinds
    return restrict(Profile(cls.KIND, cls.TITLE, cls.DEVICE_TYPE, cls.PROPERTIES, cls.EVENTS), sell)


def restrict(offer: Profile, sell: list[str] | None = None, sell_events: list[str] | None = None) -> Profile:
    """What the owner sells of a source's ``offer``: the properties in ``sell`` and the events in
    ``sell_events`` (all when None). Unknown names are refused, listing the known ones."""
    props, events = offer.properties, offer.events
    if sell is not None:
        unknown = sorted(set(sell) - {p.name for p in props})
        if unknown:
            raise AgentConfigError(f"{offer.kind} has no properties {', '.join(unknown)} "
                                   f"(has: {', '.join(p.name for p in props)})")
        if not sell:
            raise AgentConfigError("at least one property must be for sale")
        props = tuple(p for p in props if p.name in sell)
    if sell_events is not None:
        unknown = sorted(set(sell_events) - {e.name for e in events})
        if unknown:
            raise AgentConfigError(f"{offer.kind} has no events {', '.join(unknown)} "
                                   f"(has: {', '.join(e.name for e in events) or 'none'})")
        events = tuple(e for e in events if e.name in sell_events)
    if not props:
        raise AgentConfigError(f"the {offer.kind} source offers no property to sell")
    return Profile(offer.kind, offer.title, offer.device_type, props, events)


def kinds() -> list[str]:
    return list(SIMULATORS)
