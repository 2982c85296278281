"""Deterministic appliance simulators: every reading is a pure function of (seed, kind, time).

Each local day gets a plan (door openings, viewing sessions, wash cycles, set-points) drawn
from a ``random.Random`` seeded by a hash of (seed, kind, day number), so any period's
history can be served again, identically, without storing anything.
"""

from __future__ import annotations

import abc
import hashlib
import json
import math
import random
from dataclasses import dataclass, field
from functools import lru_cache

from device_agent.errors import AgentConfigError, UnknownPropertyError

DAY = 86_400
MAX_HISTORY_POINTS = 5_000


@dataclass(frozen=True)
class PropertySpec:
    """One readable property: its JSON schema type, unit (plain English name, as the catalog filters by it) and bounds."""

    name: str
    title: str
    type: str  # JSON schema type: number, integer, boolean, string
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    enum: tuple[str, ...] = ()
    description: str = ""
    # A full JSON schema (canonical JSON) when the source gives more than the fields above
    # (an upstream TD's object or array schemas); it then is the schema, as given.
    schema_json: str = ""

    def schema(self) -> dict:
        if self.schema_json:
            return json.loads(self.schema_json)
        s: dict = {"type": self.type}
        if self.unit:
            s["unit"] = self.unit
        if self.minimum is not None:
            s["minimum"] = self.minimum
        if self.maximum is not None:
            s["maximum"] = self.maximum
        if self.enum:
            s["enum"] = list(self.enum)
        return s


@dataclass(frozen=True)
class EventSpec:
    name: str
    title: str
    data: dict = field(default_factory=dict)  # JSON schema of the event's data
    description: str = ""


def unit_noise(*key) -> float:
    """A deterministic pseudo-random number in [-1, 1) from any key."""
    h = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**63 - 1.0


def _seed_int(*key) -> int:
    return int.from_bytes(hashlib.blake2b(repr(key).encode(), digest_size=8).digest(), "big")


class Simulator(abc.ABC):
    """Base: subclasses define KIND, TITLE, PROPERTIES, EVENTS, ``plan(day, rng)`` and ``value(name, t)``."""

    KIND = ""
    TITLE = ""
    DEVICE_TYPE = ""
    PROPERTIES: tuple[PropertySpec, ...] = ()
    EVENTS: tuple[EventSpec, ...] = ()

    def __init__(self, seed: int | str = 0, tz_offset_h: float = 0.0):
        if not -14 <= tz_offset_h <= 14:
            raise AgentConfigError(f"timezone offset {tz_offset_h} h is outside -14..14")
        self.seed = seed
        self.tz = int(tz_offset_h * 3600)
        # Per-device character (bigger family, colder room, ...) fixed by the seed.
        self.trait = random.Random(_seed_int(seed, self.KIND, "trait"))
        self._plan = lru_cache(maxsize=64)(self._make_plan)
        self.props = {p.name: p for p in self.PROPERTIES}
        self.events_by_name = {e.name: e for e in self.EVENTS}

    # ----------------------------------------------------------------- time
    def day_of(self, t: float) -> int:
        return int((t + self.tz) // DAY)

    def day_start(self, day: int) -> int:
        return day * DAY - self.tz

    def local_seconds(self, t: float) -> float:
        return (t + self.tz) % DAY

    @staticmethod
    def weekend(day: int) -> bool:
        return (day + 3) % 7 >= 5  # 1970-01-01 was a Thursday

    def _make_plan(self, day: int):
        return self.plan(day, random.Random(_seed_int(self.seed, self.KIND, day)))

    def day_plan(self, day: int):
        return self._plan(day)

    # ------------------------------------------------------------ subclasses
    @abc.abstractmethod
    def plan(self, day: int, rng: random.Random):
        """The day's schedule (cycles, sessions, ...) drawn from ``rng``."""

    @abc.abstractmethod
    def value(self, name: str, t: float):
        """Property ``name`` at time ``t``."""

    def event_list(self, day: int) -> list[dict]:
        """The day's events as dicts {"event", "t", ...} sorted by time."""
        return []

    # ---------------------------------------------------------------- public
    def read(self, name: str, t: float):
        """The value of property ``name`` at unix time ``t``."""
        if name not in self.props:
            raise UnknownPropertyError(f"{self.KIND} has no property {name!r} (has: {', '.join(self.props)})")
        v = self.value(name, float(t))
        spec = self.props[name]
        if spec.type == "number":
            v = round(float(v), 3)
            if spec.minimum is not None:
                v = max(spec.minimum, v)
            if spec.maximum is not None:
                v = min(spec.maximum, v)
        elif spec.type == "integer":
            v = int(v)
        elif spec.type == "boolean":
            v = bool(v)
        return v

    def latest(self, name: str, now: float) -> dict:
        """{"t", "value"} at ``now`` (the server's Readings protocol)."""
        return {"t": now, "value": self.read(name, now)}

    def snapshot(self, t: float) -> dict:
        return {name: self.read(name, t) for name in self.props}

    def history(self, name: str, start: float, end: float, step: float | None = None) -> list[dict]:
        """Readings of ``name`` from ``start`` to ``end`` (inclusive) every ``step`` seconds.

        The default step gives about 288 points; at most MAX_HISTORY_POINTS are returned.
        """
        if end < start:
            raise AgentConfigError(f"history end {end} is before start {start}")
        span = end - start
        if step is None:
            step = max(60.0, span / 288)
        if step <= 0:
            raise AgentConfigError("history step must be positive")
        n = int(span // step) + 1
        if n > MAX_HISTORY_POINTS:
            step = span / (MAX_HISTORY_POINTS - 1)
            n = MAX_HISTORY_POINTS
        # Align samples to the step grid so two overlapping queries agree point for point.
        first = math.ceil(start / step) * step if step >= 1 else start
        out = []
        t = first
        while t <= end + 1e-9 and len(out) < n:
            out.append({"t": int(t) if float(t).is_integer() else round(t, 3), "value": self.read(name, t)})
            t += step
        return out

    def events(self, start: float, end: float, name: str | None = None) -> list[dict]:
        """Events between start and end (inclusive), optionally only those called ``name``."""
        if name is not None and name not in self.events_by_name:
            raise UnknownPropertyError(f"{self.KIND} has no event {name!r} (has: {', '.join(self.events_by_name)})")
        if end < start:
            raise AgentConfigError(f"events end {end} is before start {start}")
        if end - start > 92 * DAY:
            raise AgentConfigError("events can be listed for at most 92 days at once")
        out = []
        for day in range(self.day_of(start), self.day_of(end) + 1):
            for ev in self.event_list(day):
                if start <= ev["t"] <= end and (name is None or ev["event"] == name):
                    out.append(ev)
        return out


def sawtooth_phase(t: float, period: float, offset: float) -> float:
    """Position in [0, 1) of t within a repeating cycle."""
    return ((t + offset) % period) / period
