"""The owner's first hour (issue 16): what a new owner sees from `init` to a listed device.

Each case below was seen failing on the code before the fix: init printed no address, the
missing-manifest advice was wrong, an unfunded enable printed a traceback and left consent
recorded, the TD went on chain with port 0, no price could be set at init, no doctor existed.
"""

from __future__ import annotations

import json

import pytest

from tests.agent.conftest import CLI_PASSWORD as PW
from tests.agent.conftest import run_cli as run


def one_line_error(err: str) -> bool:
    return err.startswith("device-agent: error:") and err.count("\n") == 1 and "Traceback" not in err


def init(capsys, data_dir, pwfile, *extra):
    code, out, err = run(capsys, "--data-dir", str(data_dir), "--password-file", pwfile, "init", *extra)
    assert code == 0, err
    return json.loads(out)


def test_init_prints_the_address_to_fund_and_how(capsys, tmp_path, pwfile):
    out = init(capsys, tmp_path / "a", pwfile, "--appliance", "tv")
    status = json.loads(run(capsys, "--data-dir", str(tmp_path / "a"), "--password-file", pwfile, "status", "--json")[1])
    assert out["address"] == status["address"]
    assert status["address"] in out["fund"] and "ETH" in out["fund"]


def test_init_without_port_fixes_a_real_port(capsys, tmp_path, pwfile):
    from device_agent.config import load_config

    init(capsys, tmp_path / "a", pwfile)
    port = load_config(tmp_path / "a").http_port
    assert 1024 <= port <= 65535


def test_td_never_carries_port_0(tmp_path):
    from device_agent.config import AgentConfig
    from device_agent.errors import AgentConfigError

    with pytest.raises(AgentConfigError, match="port 0"):
        AgentConfig(http_port=0).require_publishable()
    AgentConfig(http_port=0, public_url="https://dev.example/agent").require_publishable()
    AgentConfig(http_port=8123).require_publishable()


def test_init_takes_price_and_stream_price(capsys, tmp_path, pwfile):
    from device_agent.config import load_config

    init(capsys, tmp_path / "a", pwfile, "--reserve", "12345", "--stream-price", "7")
    cfg = load_config(tmp_path / "a")
    assert (cfg.reserve_price_wei, cfg.stream_price_per_message) == (12345, 7)


@pytest.mark.parametrize(("flags", "message"), [
    (["--stream-price", "0"], "stream_price_per_message must be at least 1"),
    (["--stream-price", "-3"], "non-negative"),
    (["--reserve", "-1"], "non-negative"),
    (["--port", "70000"], "is not a port"),
    (["--source", "ftp://x"], "must be wot:URL"),
])
def test_init_refuses_bad_values_in_one_line_and_writes_nothing(capsys, tmp_path, pwfile, flags, message):
    d = tmp_path / "bad"
    code, out, err = run(capsys, "--data-dir", str(d), "--password-file", pwfile, "init", *flags)
    assert code == 1 and out == "" and one_line_error(err) and message in err
    assert not d.exists() or not any(d.iterdir())


def test_init_with_a_wot_source_keeps_the_login_encrypted(capsys, tmp_path, pwfile, monkeypatch):
    from device_agent.config import load_config
    from device_agent.credentials import load_credentials

    monkeypatch.setenv("THINGBID_SOURCE_USERNAME", "owner")
    monkeypatch.setenv("THINGBID_SOURCE_PASSWORD", "s3cret-upstream")
    d = tmp_path / "w"
    init(capsys, d, pwfile, "--source", "wot:http://192.0.2.10:8080/thing", "--source-auth", "basic")
    cfg = load_config(d)
    assert cfg.source == {"kind": "wot", "url": "http://192.0.2.10:8080/thing", "auth": "basic"}
    assert load_credentials(d, PW) == {"username": "owner", "password": "s3cret-upstream"}
    assert all("s3cret-upstream" not in p.read_text(errors="replace") for p in d.iterdir() if p.is_file())


@pytest.mark.anvil
def test_enable_without_a_manifest_says_where_it_looked_and_which_flag(capsys, tmp_path, pwfile, anvil_chain):
    d = tmp_path / "a"
    init(capsys, d, pwfile)
    code, _out, err = run(capsys, "--data-dir", str(d), "--password-file", pwfile, "enable", "--rpc",
                          anvil_chain.w3.provider.endpoint_uri, "--deployments-dir", str(tmp_path / "nowhere"))
    assert code == 1 and one_line_error(err)
    assert "--deployments-dir" in err and str(tmp_path / "nowhere") in err


@pytest.mark.anvil
def test_enable_unfunded_says_how_much_and_changes_nothing(capsys, tmp_path, pwfile, anvil_chain):
    from exchange.chain.deploy import deploy_all

    deploy_all(anvil_chain, tmp_path / "deployments", fresh=True)
    d = tmp_path / "a"
    base = ["--data-dir", str(d), "--password-file", pwfile]
    init(capsys, d, pwfile)
    code, _out, err = run(capsys, *base, "enable", "--rpc", anvil_chain.w3.provider.endpoint_uri,
                          "--deployments-dir", str(tmp_path / "deployments"))
    assert code == 1 and one_line_error(err), err
    assert "ETH" in err and "fund" in err
    status = json.loads(run(capsys, *base, "status", "--json")[1])
    assert status["enabled"] is False and status["checked_in"] is False


@pytest.mark.anvil
def test_doctor_names_what_is_wrong_then_all_ok(capsys, tmp_path, pwfile, anvil_chain):
    from exchange.chain.deploy import deploy_all

    deploy_all(anvil_chain, tmp_path / "deployments", fresh=True)
    d = tmp_path / "a"
    base = ["--data-dir", str(d), "--password-file", pwfile]
    chain_args = ["--rpc", anvil_chain.w3.provider.endpoint_uri, "--deployments-dir", str(tmp_path / "deployments")]
    out = init(capsys, d, pwfile, "--appliance", "thermostat")

    code, text, _ = run(capsys, *base, "doctor", "--json", *chain_args)
    checks = {c["check"]: c for c in json.loads(text)["checks"]}
    assert code == 1
    assert checks["chain"]["ok"] and checks["deployment"]["ok"] and checks["source"]["ok"]
    assert not checks["funds"]["ok"] and out["address"] in checks["funds"]["detail"]
    assert not checks["registry"]["ok"] and "enable" in checks["registry"]["detail"]
    assert not checks["public_url"]["ok"]  # nothing serves it yet

    anvil_chain.w3.eth.send_transaction({"from": anvil_chain.deployer, "to": out["address"], "value": 10**18})
    assert run(capsys, *base, "enable", *chain_args)[0] == 0
    from device_agent.runner import AgentRunner

    with AgentRunner(d, PW, sell=False, streams=False):
        code, text, err = run(capsys, *base, "doctor", "--json", *chain_args)
    checks = {c["check"]: c for c in json.loads(text)["checks"]}
    assert code == 0, text
    assert all(c["ok"] for c in checks.values()), checks


def test_doctor_without_a_chain_is_one_line_per_check(capsys, tmp_path, pwfile):
    d = tmp_path / "a"
    init(capsys, d, pwfile)
    code, text, _ = run(capsys, "--data-dir", str(d), "--password-file", pwfile, "doctor", "--rpc", "http://127.0.0.1:1")
    assert code == 1
    lines = text.strip().splitlines()
    chain_line = next(x for x in lines if x.startswith("FAIL chain"))
    assert "http://127.0.0.1:1" in chain_line


@pytest.mark.anvil
def test_thingbid_fund_pays_the_printed_address_on_a_dev_chain(capsys, tmp_path, pwfile, anvil_chain):
    from exchange.cli import main as thingbid

    out = init(capsys, tmp_path / "a", pwfile)
    assert anvil_chain.balance(out["address"]) == 0
    assert thingbid(["fund", out["address"], "--eth", "0.5", "--rpc", anvil_chain.w3.provider.endpoint_uri]) == 0
    assert json.loads(capsys.readouterr().out)["funded"] == out["address"]
    assert anvil_chain.balance(out["address"]) == 5 * 10**17


@pytest.mark.parametrize(("argv", "message"), [
    (["fund", "0x123"], "is not an Ethereum address"),
    (["fund", "0x" + "11" * 20, "--eth", "lots"], "is not a number"),
    (["fund", "0x" + "11" * 20, "--eth", "-1"], "more than 0"),
    (["fund", "0x" + "11" * 20, "--rpc", "http://127.0.0.1:1"], "no EVM JSON-RPC endpoint answers"),
])
def test_thingbid_fund_refuses_in_one_line(capsys, argv, message):
    from exchange.cli import main as thingbid

    assert thingbid(argv) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
