"""``thingbid bench relay --json``: the rows the issue names, from a real relay process and agents."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_bench_relay_prints_the_issue_rows():
    done = subprocess.run([sys.executable, "-m", "exchange.cli", "bench", "relay", "--json", "--agents", "5",
                           "--samples", "10", "--requests", "40", "--concurrency", "4"], capture_output=True, text=True,
                          timeout=180, env={**os.environ, "THINGBID_CONFIG": os.devnull})
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {r["op"]: r for r in map(json.loads, done.stdout.splitlines())}
    assert list(rows) == ["added_latency", "devices", "reconnect", "throughput"]
    assert {"p50_ms", "p99_ms"} <= set(rows["added_latency"])
    assert rows["devices"]["connected"] == 5 and rows["devices"]["rss_mb"] > 0
    assert rows["reconnect"]["agents"] == 5 and rows["reconnect"]["p95_s"] >= 0
    assert rows["throughput"]["requests_per_s"] > 0 and rows["throughput"]["requests"] == 40


def test_bench_relay_refuses_bad_arguments_in_one_line():
    done = subprocess.run([sys.executable, "-m", "exchange.cli", "bench", "relay", "--agents", "0"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "must be >= 1" in done.stderr and "Traceback" not in done.stderr
