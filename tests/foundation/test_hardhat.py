"""The chain seam holds on a third EVM client: deploy and `thingbid up --check` on a Hardhat node (npm)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from exchange.chain.anvil import free_port, rpc_chain_id
from exchange.config import REPO_ROOT

HARDHAT = REPO_ROOT / "node_modules" / ".bin" / "hardhat"
CONFIG_DIR = REPO_ROOT / "tests" / "hardhat"

pytestmark = [
    pytest.mark.hardhat,
    pytest.mark.skipif(not HARDHAT.exists(), reason="npm hardhat missing: run ./scripts/setup"),
]


@pytest.fixture
def hardhat_url(tmp_path):
    port = free_port()
    log = open(tmp_path / "hardhat.log", "wb")
    proc = subprocess.Popen([str(HARDHAT), "node", "--hostname", "127.0.0.1", "--port", str(port)], cwd=CONFIG_DIR,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while rpc_chain_id(url, 0.5) != 31337:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the Hardhat node did not start: {(tmp_path / 'hardhat.log').read_text()[-2000:]}")
        time.sleep(0.3)
    yield url
    proc.terminate()
    proc.wait(10)
    log.close()


def test_the_end_to_end_scenario_passes_on_a_hardhat_node(hardhat_url, tmp_path):
    done = subprocess.run([sys.executable, "-m", "exchange.cli", "up", "--rpc", hardhat_url, "--check", "--agents", "3",
                           "--state-dir", str(tmp_path / "state")], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    from exchange.chain.deploy import DEPLOY_PLAN

    step = [s.name for s in DEPLOY_PLAN].index("AuctionHouse") + 1  # the plan names the steps (mechanisms come and go)
    assert f"deploy       [{step}/{len(DEPLOY_PLAN)}] AuctionHouse: deployed at 0x" in done.stdout
    assert "check passed: every step of the scenario held" in done.stdout
