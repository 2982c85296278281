"""A washing machine: a few cycles a week with programmes, phases, water and energy."""

from __future__ import annotations

import random

from device_agent.simulators.base import EventSpec, PropertySpec, Simulator, unit_noise

# name: (minutes, litres, kWh)
PROGRAMS = {
    "cotton40": (120, 55.0, 0.95),
    "eco": (180, 42.0, 0.62),
    "quick": (30, 30.0, 0.28),
    "wool30": (60, 36.0, 0.40),
    "synthetics": (90, 45.0, 0.70),
}
# phase: (share of the cycle where it ends, share of water, share of energy)
PHASES = (("washing", 0.6, 0.5, 0.75), ("rinsing", 0.85, 0.5, 0.1), ("spinning", 1.0, 0.0, 0.15))


class WashingMachine(Simulator):
    KIND = "washer"
    TITLE = "Washing machine"
    DEVICE_TYPE = "WashingMachine"
    PROPERTIES = (
        PropertySpec("state", "Cycle phase", "string", enum=("idle", "washing", "rinsing", "spinning")),
        PropertySpec("program", "Programme of the running cycle (empty when idle)", "string",
                     enum=("", *PROGRAMS)),
        PropertySpec("power", "Electrical power draw", "number", "watt", 0, 3000),
        PropertySpec("waterToday", "Water used since local midnight", "number", "litre", 0, None),
        PropertySpec("energyToday", "Energy used since local midnight", "number", "kilowatt hour", 0, None),
        PropertySpec("cyclesToday", "Cycles started since local midnight", "integer", "count", 0, None),
    )
    EVENTS = (
        EventSpec("cycleStarted", "Cycle started", {"type": "object", "properties": {"program": {"type": "string"}}}),
        EventSpec("cycleFinished", "Cycle finished", {"type": "object", "properties": {
            "program": {"type": "string"}, "water": {"type": "number", "unit": "litre"},
            "energy": {"type": "number", "unit": "kilowatt hour"}}}),
    )

    def __init__(self, seed=0, tz_offset_h=0.0):
        super().__init__(seed, tz_offset_h)
        self.loads_per_week = self.trait.uniform(2, 9)
        self.favourite = self.trait.choice(list(PROGRAMS))

    def plan(self, day, rng: random.Random):
        """Cycles as (start, end, program) sorted, never overlapping, all within the day."""
        base = self.day_start(day)
        mean = self.loads_per_week / 7 * (1.8 if self.weekend(day) else 0.7)
        n = min(3, sum(1 for _ in range(6) if rng.random() < mean / 6))
        cycles, earliest = [], base + 7 * 3600
        for _ in range(n):
            prog = self.favourite if rng.random() < 0.6 else rng.choice(list(PROGRAMS))
            dur = PROGRAMS[prog][0] * 60
            latest = base + 86_000 - dur
            if earliest > latest:
                break
            start = rng.uniform(earliest, min(latest, earliest + 5 * 3600))
            cycles.append((start, start + dur, prog))
            earliest = start + dur + 900
        return cycles

    def _cycle(self, t):
        for c in self.day_plan(self.day_of(t)):
            if c[0] <= t < c[1]:
                return c
        return None

    @staticmethod
    def _phase(frac):
        for name, end, _w, _e in PHASES:
            if frac < end:
                return name
        return "spinning"

    @staticmethod
    def _used(frac, total, idx):
        """Resource used after ``frac`` of a cycle, spread evenly within each phase."""
        used, begin = 0.0, 0.0
        for phase in PHASES:
            end, share = phase[1], phase[idx]
            if frac >= end:
                used += share
            elif frac > begin:
                used += share * (frac - begin) / (end - begin)
            begin = end
        return used * total

    def value(self, name, t):
        c = self._cycle(t)
        frac = (t - c[0]) / (c[1] - c[0]) if c else 0.0
        if name == "state":
            return self._phase(frac) if c else "idle"
        if name == "program":
            return c[2] if c else ""
        if name == "power":
            if not c:
                return 0.8
            minutes = (t - c[0]) / 60
            phase = self._phase(frac)
            watts = 2000.0 if phase == "washing" and minutes < 15 else {"washing": 180.0, "rinsing": 120.0,
                                                                         "spinning": 550.0}[phase]
            return watts + 10 * unit_noise(self.seed, "p", int(t // 20))
        if name in ("waterToday", "energyToday", "cyclesToday"):
            total, count = 0.0, 0
            for start, end, prog in self.day_plan(self.day_of(t)):
                if start > t:
                    break
                count += 1
                f = min(1.0, (t - start) / (end - start))
                _m, litres, kwh = PROGRAMS[prog]
                total += self._used(f, litres, 2) if name == "waterToday" else self._used(f, kwh, 3)
            return count if name == "cyclesToday" else total
        raise KeyError(name)

    def event_list(self, day):
        out = []
        for start, end, prog in self.day_plan(day):
            _m, litres, kwh = PROGRAMS[prog]
            out.append({"event": "cycleStarted", "t": round(start, 3), "data": {"program": prog}})
            out.append({"event": "cycleFinished", "t": round(end, 3),
                        "data": {"program": prog, "water": litres, "energy": kwh}})
        return out
