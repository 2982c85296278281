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
    """The profile of appliance ``kind``, restricted to the properties in ``sell`` (all when None).

    Events are kept only when at least one property is sold (they reveal the same activity).
    """
    cls = type(make_simulator(kind))  # raises UnknownApplianceError with the known kinds
    props = cls.PROPERTIES
    if sell is not None:
        unknown = sorted(set(sell) - {p.name for p in props})
        if unknown:
            raise AgentConfigError(f"{kind} has no properties {', '.join(unknown)} "
                                   f"(has: {', '.join(p.name for p in props)})")
        if not sell:
            raise AgentConfigError("at least one property must be for sale")
        props = tuple(p for p in props if p.name in sell)
    return Profile(cls.KIND, cls.TITLE, cls.DEVICE_TYPE, props, cls.EVENTS)


def kinds() -> list[str]:
    return list(SIMULATORS)
