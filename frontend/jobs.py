"""Background jobs (batch bidding) with progress that the page polls.

A job belongs to the address that started it; ``get`` with any other owner answers None,
so one user cannot watch or learn about another's bids.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from exchange.market import Outcome  # noqa: F401 - one outcome type for the app and the client


@dataclass
class Job:
    id: str
    owner: str
    kind: str
    total_batches: int
    total_items: int
    done_batches: int = 0
    state: str = "queued"  # queued, running, done, failed
    stage: str = "waiting to start"  # what is being done right now, in words
    error: str = ""
    outcomes: list[Outcome] = field(default_factory=list)
    tx_hashes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    finished: float | None = None
    meta: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, outcomes: list[Outcome], tx_hash: str | None = None) -> None:
        with self._lock:
            self.outcomes.extend(outcomes)
            if tx_hash:
                self.tx_hashes.append(tx_hash)
            self.done_batches += 1

    def progress(self) -> dict:
        with self._lock:
            counts: dict[str, int] = {}
            for o in self.outcomes:
                counts[o.status] = counts.get(o.status, 0) + 1
            pct = 100 if self.state == "done" else (
                int(100 * self.done_batches / self.total_batches) if self.total_batches else 0)
            return {"id": self.id, "state": self.state, "done_batches": self.done_batches,
                    "total_batches": self.total_batches, "total_items": self.total_items,
                    "percent": pct, "stage": self.stage, "placed": counts.get("placed", 0), "skipped": counts.get("skipped", 0),
                    "failed": counts.get("failed", 0), "error": self.error,
                    "elapsed_s": round((self.finished or time.time()) - self.started, 2)}


class JobRunner:
    def __init__(self, keep: int = 200):
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self.keep = keep

    def add(self, owner: str, kind: str, total_batches: int, total_items: int, meta: dict | None = None) -> Job:
        """A job driven from outside (a browser wallet sends its transactions), shown like any other."""
        job = Job(secrets.token_urlsafe(12), owner, kind, total_batches, total_items, meta=meta or {})
        job.state = "running"
        self._keep(job)
        return job

    def start(self, owner: str, kind: str, total_batches: int, total_items: int,
              work: Callable[[Job], None], meta: dict | None = None) -> Job:
        job = Job(secrets.token_urlsafe(12), owner, kind, total_batches, total_items, meta=meta or {})
        self._keep(job)

        def run():
            job.state = "running"
            try:
                work(job)
                job.stage = "finished"
                job.state = "done"
            except Exception as exc:  # noqa: BLE001 - reported to the owner on the progress page
                job.error = f"{type(exc).__name__}: {exc}"
                job.stage = "stopped"
                job.state = "failed"
            finally:
                job.finished = time.time()

        threading.Thread(target=run, name=f"job-{job.id}", daemon=True).start()
        return job

    def _keep(self, job: Job) -> None:
        with self._lock:
            self._jobs[job.id] = job
            if len(self._jobs) > self.keep:  # drop the oldest finished jobs
                for jid, j in sorted(self._jobs.items(), key=lambda kv: kv[1].started):
                    if j.state in ("done", "failed") and len(self._jobs) > self.keep:
                        del self._jobs[jid]

    def get(self, job_id: str, owner: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or job.owner.lower() != owner.lower():
            return None
        return job

    def of(self, owner: str) -> list[Job]:
        with self._lock:
            return sorted((j for j in self._jobs.values() if j.owner.lower() == owner.lower()),
                          key=lambda j: -j.started)

    def wait(self, job: Job, timeout: float = 60) -> Job:
        end = time.time() + timeout
        while job.state in ("queued", "running") and time.time() < end:
            time.sleep(0.02)
        return job
