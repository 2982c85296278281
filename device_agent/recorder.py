"""The recorder: every reading and event of the agent's source, in a local SQLite file.

History and events served to key holders come from here (``RecordedData``), whatever the
source; a simulator writes into it like any other source, so there is one path. Retention is
the owner's (``retention_days``, default 92) and the size is bounded (``recorder_max_rows``
readings per property): the oldest go first.

Times are stored in integer milliseconds; a property has one value per millisecond (a second
reading at the same instant replaces the first). Readings live in a WITHOUT ROWID table keyed
by (property, time), so a range or "latest before" lookup is one B-tree seek.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from device_agent.errors import AgentConfigError, UnknownPropertyError
from device_agent.sources.base import Reading, Source

RECORDER_FILE = "recording.db"
MAX_HISTORY_POINTS = 5_000
MAX_EVENTS_PER_ANSWER = 10_000
PRUNE_EVERY = 5_000  # readings between retention passes
DAY = 86_400

_SCHEMA = """
CREATE TABLE IF NOT EXISTS prop (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS reading (prop INTEGER NOT NULL, t INTEGER NOT NULL, value TEXT NOT NULL,
                                    PRIMARY KEY (prop, t)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS event (name TEXT NOT NULL, t INTEGER NOT NULL, data TEXT NOT NULL,
                                  PRIMARY KEY (name, t, data)) WITHOUT ROWID;
"""


def _ms(t: float) -> int:
    return int(round(t * 1000))


def _s(ms: int) -> int | float:
    return ms // 1000 if ms % 1000 == 0 else round(ms / 1000, 3)


def bucket_grid(lo: int, hi: int, step: int) -> tuple[int, int]:
    """(first bucket start, count) of ``step``-wide buckets on the step grid covering [lo, hi].

    Buckets sit on multiples of ``step`` so two overlapping queries agree bucket for bucket."""
    first = (lo // step) * step
    return first, (hi - first) // step + 1


class Recorder:
    """Thread-safe: one writer connection behind a lock, one reader connection per thread."""

    def __init__(self, path: str | Path, *, retention_days: int = 92, max_rows: int = 5_000_000):
        if retention_days < 1 or max_rows < 1:
            raise AgentConfigError("recorder retention_days and max_rows must be positive")
        self.path = str(path)
        self.retention_s = retention_days * DAY
        self.max_rows = max_rows
        self._lock = threading.Lock()
        self._local = threading.local()
        self._prop_ids: dict[str, int] = {}
        self._since_prune = 0
        self._db = self._connect()
        self._db.executescript(_SCHEMA)
        self._prop_ids = dict(self._db.execute("SELECT name, id FROM prop"))

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # WAL: a power cut may lose the last commits, never corrupt
        db.execute("PRAGMA busy_timeout=5000")
        return db

    def _reader(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._connect()
        return db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------- writing
    def _prop_id(self, name: str) -> int:
        pid = self._prop_ids.get(name)
        if pid is None:
            self._db.execute("INSERT OR IGNORE INTO prop (name) VALUES (?)", (name,))
            pid = self._db.execute("SELECT id FROM prop WHERE name = ?", (name,)).fetchone()[0]
            self._prop_ids[name] = pid
        return pid

    def record(self, readings: Iterable[Reading]) -> int:
        """Store readings in one transaction; returns how many."""
        with self._lock:
            rows = [(self._prop_id(r.name), _ms(r.t), json.dumps(r.value)) for r in readings]
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO reading (prop, t, value) VALUES (?, ?, ?)", rows)
            self._db.execute("COMMIT")
            self._since_prune += len(rows)
            due = self._since_prune >= PRUNE_EVERY
        if due:
            self.prune()
        return len(rows)

    def record_events(self, events: Iterable[tuple[str, float, dict]]) -> int:
        with self._lock:
            rows = [(name, _ms(t), json.dumps(data, sort_keys=True)) for name, t, data in events]
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR IGNORE INTO event (name, t, data) VALUES (?, ?, ?)", rows)
            self._db.execute("COMMIT")
        return len(rows)

    # The Sink protocol: what a running source calls.
    def reading(self, name: str, t: float, value: Any) -> None:
        self.record([Reading(name, t, value)])

    def event(self, name: str, t: float, data: dict) -> None:
        self.record_events([(name, t, data)])

    def prune(self, now: float | None = None) -> int:
        """Drop what is older than the retention, then the oldest beyond ``max_rows`` per property."""
        import time

        cutoff = _ms((now if now is not None else time.time()) - self.retention_s)
        with self._lock:
            self._since_prune = 0
            self._db.execute("BEGIN")
            gone = self._db.execute("DELETE FROM reading WHERE t < ?", (cutoff,)).rowcount
            gone += self._db.execute("DELETE FROM event WHERE t < ?", (cutoff,)).rowcount
            for pid in self._prop_ids.values():
                row = self._db.execute("SELECT t FROM reading WHERE prop = ? ORDER BY t DESC LIMIT 1 OFFSET ?",
                                       (pid, self.max_rows)).fetchone()
                if row:
                    gone += self._db.execute("DELETE FROM reading WHERE prop = ? AND t <= ?", (pid, row[0])).rowcount
            self._db.execute("COMMIT")
        return gone

    # ------------------------------------------------------------- reading
    def latest(self, name: str) -> Reading | None:
        pid = self._prop_ids.get(name)
        if pid is None:
            return None
        row = self._reader().execute("SELECT t, value FROM reading WHERE prop = ? ORDER BY t DESC LIMIT 1",
                                     (pid,)).fetchone()
        return Reading(name, _s(row[0]), json.loads(row[1])) if row else None

    def count(self, name: str, lo: float, hi: float) -> int:
        pid = self._prop_ids.get(name)
        if pid is None:
            return 0
        return self._reader().execute("SELECT count(*) FROM reading WHERE prop = ? AND t BETWEEN ? AND ?",
                                      (pid, _ms(lo), _ms(hi) + 999)).fetchone()[0]

    def history(self, name: str, start: int, end: int, step: int | None = None) -> list[dict]:
        """Readings of ``name`` recorded in [start, end] (unix s, ``end`` inclusive to its last ms).

        Without ``step``: every reading when there are at most MAX_HISTORY_POINTS, else as with
        the default step (about 288 points, at least 60 s). With ``step``: the last reading of
        each ``step``-second bucket on the step grid (at most MAX_HISTORY_POINTS buckets: a
        longer span widens the step). Each point is a recorded reading, its own time and value.
        """
        if end < start:
            raise AgentConfigError(f"history end {end} is before start {start}")
        pid = self._prop_ids.get(name)
        if pid is None:
            return []
        lo, hi = _ms(start), _ms(end) + 999
        db = self._reader()
        if step is None:
            rows = db.execute("SELECT t, value FROM reading WHERE prop = ? AND t BETWEEN ? AND ? ORDER BY t LIMIT ?",
                              (pid, lo, hi, MAX_HISTORY_POINTS + 1)).fetchall()
            if len(rows) <= MAX_HISTORY_POINTS:
                return [{"t": _s(t), "value": json.loads(v)} for t, v in rows]
            step = max(60, (end - start) // 288)
        if step <= 0:
            raise AgentConfigError("history step must be positive")
        step_ms = step * 1000
        if (hi - lo) // step_ms + 1 > MAX_HISTORY_POINTS:
            step_ms = math.ceil((hi - lo) / (MAX_HISTORY_POINTS - 1) / 1000) * 1000
        first, n = bucket_grid(lo, hi, step_ms)
        # One seek per bucket (max(t) in the bucket, then its row), all inside SQLite.
        rows = db.execute("""
            WITH RECURSIVE g(x) AS (SELECT ? UNION ALL SELECT x + ? FROM g WHERE x + ? <= ?)
            SELECT r.t, r.value FROM g
            JOIN reading r ON r.prop = ? AND r.t = (SELECT max(t) FROM reading
                                                    WHERE prop = ? AND t >= max(g.x, ?) AND t < min(g.x + ?, ? + 1))
            ORDER BY r.t""", (first, step_ms, step_ms, first + (n - 1) * step_ms, pid, pid, lo, step_ms, hi)).fetchall()
        return [{"t": _s(t), "value": json.loads(v)} for t, v in rows]

    def events(self, start: float, end: float, name: str | None = None) -> list[dict]:
        """Events recorded in [start, end] (unix s), oldest first, as {"event", "t", **data}."""
        if end < start:
            raise AgentConfigError(f"events end {end} is before start {start}")
        q = "SELECT name, t, data FROM event WHERE t BETWEEN ? AND ?"
        args: list = [_ms(start), _ms(end) + 999]
        if name is not None:
            q = "SELECT name, t, data FROM event WHERE name = ? AND t BETWEEN ? AND ?"
            args.insert(0, name)
        rows = self._reader().execute(q + " ORDER BY t LIMIT ?", (*args, MAX_EVENTS_PER_ANSWER)).fetchall()
        return [{**json.loads(d), "event": n, "t": _s(t)} for n, t, d in rows]


class RecordedData:
    """What the HTTP server and the stream publisher read: fresh reads through the source (each
    recorded), history and events from the recording. Names outside the profile are refused."""

    def __init__(self, source: Source, recorder: Recorder, properties: Iterable[str], events: Iterable[str]):
        self.source, self.recorder = source, recorder
        self.properties, self.event_names = set(properties), set(events)

    def _check(self, name: str) -> None:
        if name not in self.properties:
            raise UnknownPropertyError(f"no property {name!r} is sold (sold: {', '.join(sorted(self.properties))})")

    def latest(self, name: str, now: float) -> dict:
        """{"t", "value"} of a fresh read; the recording's last value when the source cannot answer."""
        self._check(name)
        from device_agent.sources.base import SourceError

        try:
            r = self.source.read(name)
        except SourceError:
            r = self.recorder.latest(name)
            if r is None:
                raise
            return {"t": r.t, "value": r.value}
        self.recorder.record([r])
        return {"t": _s(_ms(r.t)), "value": r.value}

    def history(self, name: str, start: int, end: int, step: int | None = None) -> list[dict]:
        self._check(name)
        return self.recorder.history(name, start, end, step)

    def events(self, start: float, end: float, name: str | None = None) -> list[dict]:
        if name is not None and name not in self.event_names:
            raise UnknownPropertyError(f"no event {name!r} is sold")
        found = self.recorder.events(start, end, name)
        return found if name is not None else [e for e in found if e["event"] in self.event_names]
