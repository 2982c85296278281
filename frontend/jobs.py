"""Background jobs (batch bidding) with progress that the page polls, kept in the database.

A job runs in a thread of the worker that started it and writes its stage, each batch's outcomes
and transaction hashes to ``web_jobs`` as it goes, so any worker answers the progress page. A job
belongs to the address that started it; ``get`` with any other owner answers None, so one user
cannot watch or learn about another's bids.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine

from exchange.market import Outcome  # noqa: F401 - one outcome type for the app and the client
from frontend.webstate import (
    JOB_BEATS,
    JOBS,
    create_web_tables,
    meta_json,
    new_id,
    outcomes_from_json,
    outcomes_to_json,
)

PERSISTED = ("stage", "state", "error", "finished")
STALE_S = 30.0  # a running job whose worker has not beaten for this long was interrupted (the worker died)
INTERRUPTED = ("interrupted: the worker running this job stopped before it finished; what is recorded here was"
               " done — make a new plan from the catalog to place the rest")


class Job:
    """One job's row; setting ``stage``, ``state``, ``error`` or ``finished`` and ``record`` write it."""

    def __init__(self, engine: Engine | None, id: str, owner: str, kind: str, total_batches: int, total_items: int,
                 done_batches: int = 0, state: str = "queued", stage: str = "waiting to start", error: str = "",
                 outcomes: list | None = None, tx_hashes: list | None = None, started: float | None = None,
                 finished: float | None = None, meta: dict | None = None):
        d = self.__dict__
        d.update(_engine=engine, _lock=threading.Lock(), id=id, owner=owner, kind=kind, total_batches=total_batches,
                 total_items=total_items, done_batches=done_batches, state=state, stage=stage, error=error,
                 outcomes=outcomes or [], tx_hashes=tx_hashes or [], started=started or time.time(),
                 finished=finished, meta=meta or {})

    def __setattr__(self, name, value):
        self.__dict__[name] = value
        if name in PERSISTED:
            self._write(**{name: value})

    def _write(self, **values) -> None:
        if self._engine is not None:
            with self._engine.begin() as c:
                c.execute(update(JOBS).where(JOBS.c.id == self.id).values(**values))

    def record(self, outcomes: list[Outcome], tx_hash: str | None = None) -> None:
        with self._lock:
            self.outcomes.extend(outcomes)
            if tx_hash:
                self.tx_hashes.append(tx_hash)
            self.__dict__["done_batches"] = self.done_batches + 1
            self._write(outcomes=outcomes_to_json(self.outcomes), tx_hashes=json.dumps(self.tx_hashes),
                        done_batches=self.done_batches)

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


def _from_row(engine, r) -> Job:
    return Job(engine, r["id"], r["owner"], r["kind"], r["total_batches"], r["total_items"], r["done_batches"],
               r["state"], r["stage"], r["error"], outcomes_from_json(r["outcomes"]), json.loads(r["tx_hashes"]),
               r["started"], r["finished"], json.loads(r["meta"]))


class JobRunner:
    def __init__(self, engine: Engine, keep: int = 200, stale_s: float = STALE_S):
        self.engine = engine
        self.keep = keep  # finished jobs kept per owner
        self.stale_s = stale_s
        create_web_tables(engine)

    def _new(self, owner: str, kind: str, total_batches: int, total_items: int, meta: dict | None,
             state: str) -> Job:
        job = Job(None, new_id(), owner, kind, total_batches, total_items, state=state, meta=meta or {})
        with self.engine.begin() as c:
            c.execute(insert(JOBS).values(id=job.id, owner=owner.lower(), kind=kind, total_batches=total_batches,
                                          total_items=total_items, done_batches=0, state=state, stage=job.stage,
                                          error="", outcomes="[]", tx_hashes="[]", started=job.started,
                                          finished=None, meta=meta_json(job.meta)))
            old = list(c.execute(select(JOBS.c.id).where(JOBS.c.owner == owner.lower(),
                                                         JOBS.c.state.in_(("done", "failed")))
                                 .order_by(JOBS.c.started.desc()).offset(self.keep)).scalars())
            if old:  # drop the owner's oldest finished jobs
                c.execute(delete(JOBS).where(JOBS.c.id.in_(old)))
        job.__dict__["_engine"] = self.engine
        return job

    def add(self, owner: str, kind: str, total_batches: int, total_items: int, meta: dict | None = None) -> Job:
        """A job driven from outside (a browser wallet sends its transactions), shown like any other."""
        return self._new(owner, kind, total_batches, total_items, meta, "running")

    def start(self, owner: str, kind: str, total_batches: int, total_items: int,
              work: Callable[[Job], None], meta: dict | None = None) -> Job:
        job = self._new(owner, kind, total_batches, total_items, meta, "queued")
        done = threading.Event()
        self._beat(job.id)

        def beat():
            while not done.wait(self.stale_s / 3):
                self._beat(job.id)

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
                done.set()
                with self.engine.begin() as c:
                    c.execute(delete(JOB_BEATS).where(JOB_BEATS.c.job_id == job.id))

        threading.Thread(target=beat, name=f"beat-{job.id}", daemon=True).start()
        threading.Thread(target=run, name=f"job-{job.id}", daemon=True).start()
        return job

    def _beat(self, job_id: str) -> None:
        with self.engine.begin() as c:
            if c.execute(update(JOB_BEATS).where(JOB_BEATS.c.job_id == job_id).values(beat=time.time())).rowcount == 0:
                c.execute(insert(JOB_BEATS).values(job_id=job_id, beat=time.time()))

    def _interrupt_stale(self, c, owner: str) -> None:
        """Jobs of ``owner`` whose worker stopped beating are failed, once (a conditional UPDATE)."""
        stale = list(c.execute(select(JOB_BEATS.c.job_id).join(JOBS, JOBS.c.id == JOB_BEATS.c.job_id)
                               .where(JOBS.c.owner == owner.lower(), JOBS.c.state.in_(("queued", "running")),
                                      JOB_BEATS.c.beat < time.time() - self.stale_s)).scalars())
        if stale:
            c.execute(update(JOBS).where(JOBS.c.id.in_(stale), JOBS.c.state.in_(("queued", "running")))
                      .values(state="failed", stage="interrupted", error=INTERRUPTED, finished=time.time()))
            c.execute(delete(JOB_BEATS).where(JOB_BEATS.c.job_id.in_(stale)))

    def get(self, job_id: str, owner: str) -> Job | None:
        """The job as stored now (whichever worker runs it); None if it is not ``owner``'s."""
        with self.engine.begin() as c:
            self._interrupt_stale(c, owner)
            r = c.execute(select(JOBS).where(JOBS.c.id == str(job_id)[:32],
                                             JOBS.c.owner == owner.lower())).mappings().first()
        return _from_row(self.engine, r) if r else None

    def of(self, owner: str, limit: int = 50) -> list[Job]:
        with self.engine.begin() as c:
            self._interrupt_stale(c, owner)
            rows = c.execute(select(JOBS).where(JOBS.c.owner == owner.lower())
                             .order_by(JOBS.c.started.desc()).limit(limit)).mappings().all()
        return [_from_row(self.engine, r) for r in rows]

    def wait(self, job: Job, timeout: float = 60) -> Job:
        end = time.time() + timeout
        while time.time() < end:
            job = self.get(job.id, job.owner) or job
            if job.state not in ("queued", "running"):
                break
            time.sleep(0.02)
        return job
