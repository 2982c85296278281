"""A television: evening viewing sessions (more at weekends), channel hopping, volume."""

from __future__ import annotations

import bisect
import random

from device_agent.simulators.base import EventSpec, PropertySpec, Simulator, unit_noise

CHANNELS = (1, 2, 3, 4, 5, 7, 9, 11, 13, 21, 24, 42)


class Television(Simulator):
    KIND = "tv"
    TITLE = "Smart TV"
    DEVICE_TYPE = "Television"
    PROPERTIES = (
        PropertySpec("on", "Screen is on", "boolean"),
        PropertySpec("channel", "Current channel (0 when off)", "integer", None, 0, 999),
        PropertySpec("volume", "Volume", "integer", "percent", 0, 100),
        PropertySpec("power", "Electrical power draw", "number", "watt", 0, 400),
        PropertySpec("viewingMinutesToday", "Minutes watched since local midnight", "number", "minute", 0, 1440),
    )
    EVENTS = (
        EventSpec("sessionStarted", "Viewing session started", {"type": "object", "properties": {
            "channel": {"type": "integer"}}}),
        EventSpec("sessionEnded", "Viewing session ended", {"type": "object", "properties": {
            "minutes": {"type": "number", "unit": "minute"}}}),
        EventSpec("channelChanged", "Channel changed", {"type": "object", "properties": {
            "channel": {"type": "integer"}}}),
    )

    def __init__(self, seed=0, tz_offset_h=0.0):
        super().__init__(seed, tz_offset_h)
        self.keenness = self.trait.uniform(0.5, 1.5)
        self.favourites = self.trait.sample(CHANNELS, 4)
        self.watts = self.trait.uniform(60, 180)

    def plan(self, day, rng: random.Random):
        """Sessions as (start, end, volume, [(t, channel), ...]) sorted by start."""
        base = self.day_start(day)
        slots = [(7.2, 0.4, 0.35, 0.5), (19.8, 0.8, 0.9, 2.5), (13.0, 1.0, 0.15, 1.5)]
        if self.weekend(day):
            slots = [(10.0, 1.0, 0.4, 1.5), (15.0, 1.5, 0.5, 2.0), (20.0, 0.8, 0.95, 3.0)]
        sessions = []
        for hour, spread, prob, hours in slots:
            if rng.random() > min(0.98, prob * self.keenness):
                continue
            start = base + min(23.0, max(6.0, rng.gauss(hour, spread))) * 3600
            length = max(600.0, rng.gauss(hours, hours / 3) * 3600 * self.keenness)
            end = min(base + 86_399, start + length)
            if sessions and start < sessions[-1][1] + 300:
                continue  # overlapping slots merge into the earlier session
            changes, t = [], start
            while t < end:
                ch = rng.choice(self.favourites) if rng.random() < 0.8 else rng.choice(CHANNELS)
                changes.append((t, ch))
                t += rng.expovariate(1 / 900)
            sessions.append((start, end, rng.randint(12, 40), changes))
            sessions.sort(key=lambda s: s[0])
        return sessions

    def _session(self, t):
        sessions = self.day_plan(self.day_of(t))
        i = bisect.bisect_right([s[0] for s in sessions], t)
        if i and sessions[i - 1][1] > t:
            return sessions[i - 1]
        return None

    def value(self, name, t):
        s = self._session(t)
        if name == "on":
            return s is not None
        if name == "channel":
            if s is None:
                return 0
            changes = s[3]
            return changes[bisect.bisect_right([c[0] for c in changes], t) - 1][1]
        if name == "volume":
            return s[2] if s else 0
        if name == "power":
            return self.watts + 8 * unit_noise(self.seed, "p", int(t // 30)) if s else 0.5
        if name == "viewingMinutesToday":
            total = 0.0
            for start, end, _v, _c in self.day_plan(self.day_of(t)):
                if start < t:
                    total += min(end, t) - start
            return total / 60
        raise KeyError(name)

    def event_list(self, day):
        out = []
        for start, end, _vol, changes in self.day_plan(day):
            out.append({"event": "sessionStarted", "t": round(start, 3), "data": {"channel": changes[0][1]}})
            out += [{"event": "channelChanged", "t": round(t, 3), "data": {"channel": ch}} for t, ch in changes[1:]]
            out.append({"event": "sessionEnded", "t": round(end, 3), "data": {"minutes": round((end - start) / 60, 1)}})
        return sorted(out, key=lambda e: e["t"])
