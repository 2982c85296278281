"""`device-agent` commands: init, status, enable, disable, simulate, and one-line errors."""

from __future__ import annotations

import json

import pytest

from tests.agent.conftest import run_cli as run


def test_simulate_prints_json_lines_on_the_step_grid(capsys):
    code, out, _ = run(capsys, "simulate", "--appliance", "washer", "--seed", "4", "--from", "1763596800",
                       "--to", "1763600400", "--step", "600")
    lines = [json.loads(x) for x in out.splitlines()]
    assert code == 0 and len(lines) == 7
    assert [x["t"] % 600 for x in lines] == [0] * 7
    assert set(lines[0]) == {"t", "state", "program", "power", "waterToday", "energyToday", "cyclesToday"}


@pytest.mark.parametrize(("argv", "message"), [
    (["simulate", "--property", "colour"], "no property 'colour'"),
    (["status"], "run `device-agent init` first"),
    (["enable"], "run `device-agent init` first"),
])
def test_errors_are_one_line_and_exit_1(capsys, tmp_path, argv, message):
    code, out, err = run(capsys, "--data-dir", str(tmp_path / "none"), *argv)
    assert code == 1 and out == ""
    assert err.startswith("device-agent: error:") and message in err and err.count("\n") == 1


def test_wrong_password_is_one_line(capsys, tmp_path, pwfile):
    d = str(tmp_path / "a")
    assert run(capsys, "--data-dir", d, "--password-file", pwfile, "init", "--appliance", "tv")[0] == 0
    bad = tmp_path / "bad.txt"
    bad.write_text("nope")
    code, _out, err = run(capsys, "--data-dir", d, "--password-file", str(bad), "status")
    assert code == 1 and "wrong password" in err


@pytest.mark.anvil
def test_init_enable_status_disable_on_anvil(capsys, tmp_path, pwfile, anvil_chain):
    from exchange.chain.deploy import deploy_all
    from exchange.chain.registry import RegistryClient

    manifest, _ = deploy_all(anvil_chain, tmp_path / "deployments", fresh=True)
    d = str(tmp_path / "thermo")
    base = ["--data-dir", d, "--password-file", pwfile]
    chain_args = ["--rpc", anvil_chain.w3.provider.endpoint_uri, "--deployments-dir", str(tmp_path / "deployments")]
    code, out, _ = run(capsys, *base, "init", "--appliance", "thermostat", "--lat", "40.4168", "--lon", "-3.7038")
    assert code == 0 and json.loads(out)["enabled"] is False
    code, out, _ = run(capsys, *base, "status", "--json")
    status = json.loads(out)
    assert status["enabled"] is False and status["checked_in"] is False
    anvil_chain.w3.eth.send_transaction({"from": anvil_chain.deployer, "to": status["address"], "value": 10**18})
    registry = RegistryClient.from_manifest(anvil_chain, manifest)
    device = bytes.fromhex(status["device_id"])
    assert not registry.is_active(device)

    code, out, err = run(capsys, *base, "enable", *chain_args)
    assert code == 0, err
    assert json.loads(out)["action"] == "checked_in" and registry.is_active(device)
    assert json.loads(run(capsys, *base, "status", "--json")[1])["checked_in"] is True

    code, out, _ = run(capsys, *base, "disable", *chain_args)
    assert code == 0 and json.loads(out)["action"] == "checked_out"
    assert not registry.is_active(device)
    assert json.loads(run(capsys, *base, "status", "--json")[1])["enabled"] is False


def test_revoke_marks_the_auction_key_revoked(capsys, tmp_path, pwfile):
    from device_agent.state import AgentState, AgentToken

    d = tmp_path / "r"
    assert run(capsys, "--data-dir", str(d), "--password-file", pwfile, "init", "--appliance", "fridge")[0] == 0
    st = AgentState(d)
    st.add_token(AgentToken(token_id="cd" * 16, auction_id=9, buyer="0xB", not_before=1, not_after=2))
    assert st.revoked_ids() == frozenset()
    code, out, _ = run(capsys, "--data-dir", str(d), "--password-file", pwfile, "revoke", "--auction", "9")
    assert code == 0 and json.loads(out)["revoked"] == "cd" * 16
    assert st.revoked_ids() == {"cd" * 16}
    code, _, err = run(capsys, "--data-dir", str(d), "--password-file", pwfile, "revoke", "--auction", "10")
    assert code == 1 and "no access key" in err
    st.close()


def test_run_serves_the_td_until_sigterm(capsys, tmp_path, pwfile):
    import os
    import signal
    import subprocess
    import sys
    import urllib.request

    d = str(tmp_path / "runner")
    assert run(capsys, "--data-dir", d, "--password-file", pwfile, "init", "--appliance", "washer")[0] == 0
    proc = subprocess.Popen([sys.executable, "-m", "device_agent.cli", "--data-dir", d, "--password-file", pwfile,
                             "--log-level", "WARNING", "run", "--no-chain", "--no-stream"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ})
    try:
        line = json.loads(proc.stdout.readline())
        with urllib.request.urlopen(line["td"], timeout=5) as r:
            td = json.loads(r.read())
        assert td["@type"] == ["Thing", "WashingMachine"] and line["enabled"] is False
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
