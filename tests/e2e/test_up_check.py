"""The whole system end to end: ``thingbid up --check`` on a fresh state dir must pass every step."""

import json
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
    # The demo's dev OEM: announced once, its key only in an encrypted keystore, half the fleet attested.
    oem_line = next(ln for ln in res.stdout.splitlines() if ln.startswith("oem "))
    oem = oem_line.split()[1]
    assert "attests the demo devices device-00, device-02" in oem_line
    keystore = json.loads((state / "keystores" / "oem.json").read_text())
    assert "crypto" in keystore and keystore["address"].lower() == oem.lower().removeprefix("0x")
    assert (state / "keystores" / "oem.json").stat().st_mode & 0o077 == 0
    assert [d["oem_attested"] for d in json.loads((state / "fleet.json").read_text())] == [True, False, True, False]
    assert "OEM-attested on chain by " + oem in res.stdout and "\"OEM-attested only\" lists exactly them" in res.stdout


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
