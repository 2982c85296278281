"""A fridge-freezer: door openings clustered around meals, a cycling compressor, energy."""

from __future__ import annotations

import bisect
import math
import random

from device_agent.simulators.base import EventSpec, PropertySpec, Simulator, sawtooth_phase, unit_noise

COMPRESSOR_ON_W = 95.0
IDLE_W = 3.0
LIGHT_W = 8.0
DOOR_BUMP_DECAY_S = 900.0


class Fridge(Simulator):
    KIND = "fridge"
    TITLE = "Fridge-freezer"
    DEVICE_TYPE = "Refrigerator"
    PROPERTIES = (
        PropertySpec("temperature", "Fridge compartment temperature", "number", "degree Celsius", -5, 20),
        PropertySpec("freezerTemperature", "Freezer compartment temperature", "number", "degree Celsius", -30, 5),
        PropertySpec("doorOpen", "Door is open", "boolean"),
        PropertySpec("doorOpeningsToday", "Door openings since local midnight", "integer", "count", 0, None),
        PropertySpec("power", "Electrical power draw", "number", "watt", 0, 500),
        PropertySpec("energyToday", "Energy used since local midnight", "number", "kilowatt hour", 0, None),
    )
    EVENTS = (
        EventSpec("doorOpened", "Door opened", {"type": "object", "properties": {
            "duration": {"type": "number", "unit": "second"}}}),
    )

    def __init__(self, seed=0, tz_offset_h=0.0):
        super().__init__(seed, tz_offset_h)
        self.household = self.trait.randint(1, 5)
        self.setpoint = round(self.trait.uniform(3.0, 5.0), 1)
        self.cycle_s = self.trait.uniform(2100, 3000)
        self.duty = self.trait.uniform(0.3, 0.45)
        self.phase = self.trait.uniform(0, self.cycle_s)

    def plan(self, day, rng: random.Random):
        """Sorted door openings (start, duration) of one local day."""
        base = self.day_start(day)
        clusters = [(7.5, 0.8, 4), (12.7, 0.7, 3), (19.0, 1.2, 7), (15.5, 2.0, 2), (22.0, 0.8, 2)]
        if self.weekend(day):
            clusters = [(9.5, 1.2, 5), (13.0, 1.0, 5), (19.0, 1.5, 8), (16.0, 2.0, 3), (22.5, 0.8, 2)]
        opens = []
        for hour, spread, n in clusters:
            for _ in range(max(0, round(rng.gauss(n * (0.5 + self.household / 4), 1.5)))):
                h = min(23.99, max(5.0, rng.gauss(hour, spread)))
                opens.append((base + h * 3600, rng.uniform(4, 45)))
        opens.sort()
        return opens

    def _openings_around(self, t):
        day = self.day_of(t)
        return self.day_plan(day - 1)[-8:] + self.day_plan(day)

    def _door_open(self, t):
        opens = self.day_plan(self.day_of(t))
        i = bisect.bisect_right(opens, (t, float("inf")))
        return i > 0 and opens[i - 1][0] + opens[i - 1][1] > t

    def _compressor_on(self, t):
        return sawtooth_phase(t, self.cycle_s, self.phase) < self.duty

    def _door_bump(self, t):
        bump = 0.0
        for start, dur in self._openings_around(t):
            if start > t:
                break
            end = start + dur
            if t < end:
                bump += 1.2 * (t - start) / 45
            elif t - end < 5 * DOOR_BUMP_DECAY_S:
                bump += 1.2 * dur / 45 * math.exp(-(t - end) / DOOR_BUMP_DECAY_S)
        return bump

    def value(self, name, t):
        if name == "temperature":
            ph = sawtooth_phase(t, self.cycle_s, self.phase)
            # Cools while the compressor runs, warms slowly otherwise.
            wave = 1.0 - 2 * ph / self.duty if ph < self.duty else -1.0 + 2 * (ph - self.duty) / (1 - self.duty)
            return self.setpoint + 0.8 * wave + self._door_bump(t) + 0.05 * unit_noise(self.seed, "t", int(t // 60))
        if name == "freezerTemperature":
            ph = sawtooth_phase(t, self.cycle_s * 1.3, self.phase)
            return -18.0 + 1.2 * math.sin(2 * math.pi * ph) + 0.3 * self._door_bump(t) \
                + 0.05 * unit_noise(self.seed, "f", int(t // 60))
        if name == "doorOpen":
            return self._door_open(t)
        if name == "doorOpeningsToday":
            return bisect.bisect_right(self.day_plan(self.day_of(t)), (t, float("inf")))
        if name == "power":
            return (COMPRESSOR_ON_W if self._compressor_on(t) else IDLE_W) + (LIGHT_W if self._door_open(t) else 0.0) \
                + 1.5 * unit_noise(self.seed, "p", int(t // 10))
        if name == "energyToday":
            start = self.day_start(self.day_of(t))
            elapsed = t - start
            # Compressor on-time since midnight, exactly, from the cycle geometry.
            on = self._on_time(t) - self._on_time(start)
            return (on * COMPRESSOR_ON_W + (elapsed - on) * IDLE_W) / 3.6e6
        raise KeyError(name)

    def _on_time(self, t):
        full, frac = divmod(t + self.phase, self.cycle_s)
        return full * self.cycle_s * self.duty + min(frac, self.cycle_s * self.duty)

    def event_list(self, day):
        return [{"event": "doorOpened", "t": round(s, 3), "data": {"duration": round(d, 1)}}
                for s, d in self.day_plan(day)]
