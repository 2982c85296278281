"""The simulators as a source: readings on a sample grid, written into the recorder like any other."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from device_agent.profiles import Profile
from device_agent.simulators import make_simulator
from device_agent.sources.base import Reading, Sink, Source

DAY = 86_400


class SimulatedSource(Source):
    """A simulated appliance. While started it records every property each ``sample_seconds``
    on the sample grid, from where the recording stopped (at most ``backfill_seconds`` back),
    and the simulator's events of the same stretch; ``clock`` is the agent's (chain-aware) now."""

    KIND = "simulator"

    def __init__(self, appliance: str, seed: int | str = 0, tz_offset_h: float = 0.0, *,
                 clock: Callable[[], float] = time.time, sample_seconds: int = 60, backfill_seconds: int = DAY,
                 last_recorded: Callable[[], float | None] = lambda: None):
        self.simulator = make_simulator(appliance, seed, tz_offset_h)
        self.clock, self.sample, self.backfill = clock, sample_seconds, backfill_seconds
        self._last_recorded = last_recorded
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._done_until: int | None = None

    def offer(self) -> Profile:
        s = self.simulator
        return Profile(s.KIND, s.TITLE, s.DEVICE_TYPE, s.PROPERTIES, s.EVENTS)

    def read(self, name: str) -> Reading:
        t = int(self.clock())
        return Reading(name, t, self.simulator.read(name, t))

    def catch_up(self, sink: Sink) -> int:
        """Record the grid points (and events) from the last recorded one up to now; returns the count."""
        now = int(self.clock())
        if self._done_until is None:
            last = self._last_recorded()
            self._done_until = int(last) if last is not None else now - self.backfill
        start = max(self._done_until, now - self.backfill)
        first = (start // self.sample + 1) * self.sample
        n = 0
        record_many = getattr(sink, "record", None)
        batch = []
        for t in range(first, now + 1, self.sample):
            for name in self.simulator.props:
                batch.append(Reading(name, t, self.simulator.read(name, t)))
        if batch:
            if record_many is not None:  # the recorder takes a batch in one transaction
                record_many(batch)
            else:
                for r in batch:
                    sink.reading(r.name, r.t, r.value)
            n = len(batch)
        if now > start and self.simulator.EVENTS:
            for lo in range(start + 1, now + 1, 92 * DAY):
                for ev in self.simulator.events(lo, min(now, lo + 92 * DAY - 1)):
                    sink.event(ev["event"], ev["t"], {k: v for k, v in ev.items() if k not in ("event", "t")})
        self._done_until = max(self._done_until, now)
        return n

    def start(self, sink: Sink) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self.catch_up(sink)

        def loop() -> None:
            while not self._stop.wait(1.0):
                self.catch_up(sink)

        self._thread = threading.Thread(target=loop, name="source-simulator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
