"""Simulated appliances for demos and tests; readings are a pure function of (seed, time)."""

from __future__ import annotations

from device_agent.errors import UnknownApplianceError
from device_agent.simulators.base import EventSpec, PropertySpec, Simulator
from device_agent.simulators.fridge import Fridge
from device_agent.simulators.thermostat import Thermostat
from device_agent.simulators.tv import Television
from device_agent.simulators.washer import WashingMachine

SIMULATORS: dict[str, type[Simulator]] = {cls.KIND: cls for cls in (Fridge, Television, WashingMachine, Thermostat)}

__all__ = ["SIMULATORS", "Simulator", "PropertySpec", "EventSpec", "make_simulator",
           "Fridge", "Television", "WashingMachine", "Thermostat"]


def make_simulator(kind: str, seed: int | str = 0, tz_offset_h: float = 0.0) -> Simulator:
    """The simulator of appliance ``kind`` (fridge, tv, washer, thermostat)."""
    try:
        cls = SIMULATORS[kind]
    except KeyError:
        raise UnknownApplianceError(f"unknown appliance {kind!r} (known: {', '.join(SIMULATORS)})") from None
    return cls(seed, tz_offset_h)
