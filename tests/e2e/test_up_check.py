"""The whole system end to end: ``thingbid up --check`` on a fresh state dir must pass every step."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.e2e, pytest.mark.anvil]


def test_up_check_passes_on_a_fresh_state_dir(tmp_path):
    state = tmp_path / "state"
    res = subprocess.run([sys.executable, "-m", "exchange.cli", "up", "--check", "--agents", "4", "--state-dir", str(state)],
                         cwd=ROOT, capture_output=True, text=True, timeout=420)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    for n in range(1, 10):
        assert f"check {n}: ok" in res.stdout
    assert "check passed" in res.stdout
    assert (state / "fleet.json").exists() and (state / "deployments").is_dir()


def test_up_stops_every_service_on_ctrl_c(tmp_path):
    state = tmp_path / "state"
    proc = subprocess.Popen([sys.executable, "-m", "exchange.cli", "up", "--chain", "embedded", "--agents", "2",
                             "--state-dir", str(state), "--web-port", "0", "--tangle-port", "0"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = []
    deadline = time.monotonic() + 240
    try:
        for line in proc.stdout:
            lines.append(line)
            if "press Ctrl-C" in line or time.monotonic() > deadline:
                break
        assert any("press Ctrl-C" in ln for ln in lines), "".join(lines)
        pids = [int(ln.split("(pid ")[1].split(",")[0]) for ln in lines if "(pid " in ln]
        assert len(pids) >= 4  # tangle, indexer, agents, web
        os.killpg(proc.pid, signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, rest
        for pid in pids:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
