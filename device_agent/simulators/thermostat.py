"""A room thermostat: a weekly set-point schedule, a room that follows it, heating, humidity."""

from __future__ import annotations

import math
import random

from device_agent.simulators.base import DAY, EventSpec, PropertySpec, Simulator, unit_noise

TAU_HEAT_S = 2400.0  # the room's time constant towards the set-point
HEATER_KW = 1.8


class Thermostat(Simulator):
    KIND = "thermostat"
    TITLE = "Room thermostat"
    DEVICE_TYPE = "Thermostat"
    PROPERTIES = (
        PropertySpec("roomTemperature", "Room temperature", "number", "degree Celsius", -10, 40),
        PropertySpec("targetTemperature", "Set-point", "number", "degree Celsius", 5, 30),
        PropertySpec("heating", "Heating is running", "boolean"),
        PropertySpec("humidity", "Relative humidity", "number", "percent", 0, 100),
        PropertySpec("energyToday", "Heating energy since local midnight", "number", "kilowatt hour", 0, None),
    )
    EVENTS = (
        EventSpec("setpointChanged", "Set-point changed", {"type": "object", "properties": {
            "target": {"type": "number", "unit": "degree Celsius"}}}),
    )

    def __init__(self, seed=0, tz_offset_h=0.0):
        super().__init__(seed, tz_offset_h)
        self.comfort = round(self.trait.uniform(19.5, 22.5), 1)
        self.setback = round(self.comfort - self.trait.uniform(2.5, 5), 1)

    def plan(self, day, rng: random.Random):
        """Set-point changes (t, target) of the day, starting with the night set-back at midnight."""
        base = self.day_start(day)
        if self.weekend(day):
            periods = [(rng.gauss(8.0, 0.6), rng.gauss(23.0, 0.4))]
        else:
            periods = [(rng.gauss(6.3, 0.3), rng.gauss(8.2, 0.3)), (rng.gauss(17.3, 0.5), rng.gauss(22.6, 0.4))]
        changes = [(float(base), self.setback)]
        for on, off in periods:
            target = round(self.comfort + rng.choice((0, 0, 0.5, -0.5)), 1)
            changes.append((base + min(23.9, on) * 3600, target))
            changes.append((base + min(23.95, off) * 3600, self.setback))
        return sorted(changes)

    def _target(self, t):
        changes = self.day_plan(self.day_of(t))
        cur = changes[0]
        for c in changes:
            if c[0] <= t:
                cur = c
        return cur, changes

    def _outdoor(self, t):
        season = math.cos(2 * math.pi * ((t / DAY) % 365.25 - 15) / 365.25)  # coldest mid-January
        daily = math.cos(2 * math.pi * (self.local_seconds(t) / DAY - 0.625))  # warmest at 15:00
        return 8 - 9 * season + 4 * daily

    def _room(self, t):
        (tc, target), changes = self._target(t)
        prev = changes[max(0, changes.index((tc, target)) - 1)][1] if tc != changes[0][0] else self.setback
        # Heating up is fast; cooling down after a set-back is slower and floors near the outdoor air.
        if target >= prev:
            room = target + (prev - target) * math.exp(-(t - tc) / TAU_HEAT_S)
        else:
            room = max(target, prev - (prev - max(target, self._outdoor(t) + 6)) * (1 - math.exp(-(t - tc) / (3 * TAU_HEAT_S))))
        return room

    def value(self, name, t):
        if name == "targetTemperature":
            return self._target(t)[0][1]
        if name == "roomTemperature":
            return self._room(t) + 0.08 * unit_noise(self.seed, "r", int(t // 60))
        if name == "heating":
            return self._heating(t)
        if name == "humidity":
            return 45 + 8 * math.sin(2 * math.pi * self.local_seconds(t) / DAY) + 2 * unit_noise(self.seed, "h", int(t // 300))
        if name == "energyToday":
            start = self.day_start(self.day_of(t))
            steps = int((t - start) // 300)
            on = sum(1 for i in range(steps) if self._heating(start + i * 300))
            return on * 300 * HEATER_KW / 3600
        raise KeyError(name)

    def _heating(self, t):
        target = self._target(t)[0][1]
        # Keeps heating while below target, plus a duty that grows as it is colder outside.
        if self._room(t) < target - 0.15:
            return True
        loss = max(0.0, (target - self._outdoor(t)) / 30)
        return (unit_noise(self.seed, "duty", int(t // 300)) + 1) / 2 < loss * 0.6

    def event_list(self, day):
        return [{"event": "setpointChanged", "t": round(t, 3), "data": {"target": v}}
                for t, v in self.day_plan(day)[1:]]
