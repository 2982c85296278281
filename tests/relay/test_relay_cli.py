"""``thingbid relay`` as a process: reads the registry over JSON-RPC, answers in one line on bad input."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.relay.conftest import get_json


def thingbid(*args, env=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "exchange.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "THINGBID_CONFIG": os.devnull, **(env or {})})


def test_relay_process_serves_the_registry_it_is_pointed_at(deployed, tmp_path):
    from exchange.chain.rpcserver import EmbeddedRpcServer

    chain, manifest = deployed
    rpc = EmbeddedRpcServer(chain).start()
    ready = tmp_path / "relay.url"
    ddir = tmp_path / "deployments"
    ddir.mkdir()
    from exchange.chain.deploy import manifest_path

    manifest_path(chain.chain_id, ddir).write_text(__import__("json").dumps(manifest))
    proc = subprocess.Popen([sys.executable, "-m", "exchange.cli", "relay", "--port", "0", "--rpc", rpc.url,
                             "--deployments-dir", str(ddir), "--ready-file", str(ready)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "THINGBID_CONFIG": os.devnull})
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        url = ready.read_text().strip()
        status, _, info = get_json(url + "/v1/info")
        assert status == 200 and info == {"relay": url, "devices_connected": 0}
        status, _, body = get_json(f"{url}/devices/{'cd' * 32}/properties")
        assert (status, body["error"]) == (404, "unknown_device")
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=15)
        rpc.stop()
    assert proc.returncode == 0 and "relay listening at" in out and "Traceback" not in out


@pytest.mark.parametrize("args, message", [
    (["--port", "70000"], "--port 70000 is not a port"),
    (["--port", "0", "--rpc", "http://127.0.0.1:9"], "no EVM JSON-RPC endpoint answers"),
    (["--port", "0", "--keys-file", "/nonexistent/keys.json"], "--keys-file /nonexistent/keys.json"),
])
def test_relay_cli_refuses_bad_input_in_one_line(args, message):
    done = thingbid("relay", *args)
    assert done.returncode == 1 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_relay_cli_on_a_port_already_taken_is_one_line():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = thingbid("relay", "--port", str(port), "--keys-file", "/nonexistent/keys.json")
    assert done.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_building_the_cli_parser_imports_neither_aiohttp_nor_web3():
    """A relay restart pays for the CLI parser before it listens: no bench or command may import
    the HTTP or chain stacks just to register its arguments."""
    import subprocess
    import sys

    code = ("import sys; from exchange.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('aiohttp', 'web3', 'eth_utils') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr
