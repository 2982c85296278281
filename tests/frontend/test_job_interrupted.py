"""A job whose worker died stays "running" in the database: once its heartbeat is stale it shows as
failed (interrupted) with what to do next; a live job that beats stays running."""

from __future__ import annotations

import threading

from sqlalchemy import create_engine, update

from frontend.jobs import JobRunner
from frontend.webstate import JOB_BEATS


def test_a_job_whose_worker_stopped_beating_shows_as_interrupted_once_stale(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'state.db'}")
    runner = JobRunner(engine, stale_s=0.6)
    release = threading.Event()
    job = runner.start("0xAbc", "bids", 2, 4, lambda job: release.wait(10))
    try:
        release.wait(1.0)  # longer than stale_s: the beat keeps it running
        assert runner.get(job.id, "0xabc").state == "running"
        with engine.begin() as c:  # the worker "dies": its beat stops where it was, long ago
            c.execute(update(JOB_BEATS).where(JOB_BEATS.c.job_id == job.id).values(beat=0.0))
        other = JobRunner(engine, stale_s=0.6)  # another worker answers the poll
        seen = other.get(job.id, "0xabc")
        assert seen.state == "failed" and seen.stage == "interrupted" and "make a new plan" in seen.error
        assert [j.state for j in other.of("0xabc")] == ["failed"]
    finally:
        release.set()
