import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
THINGBID = [sys.executable, "-m", "exchange.cli"]


def run(*args, env=None, stdin=subprocess.DEVNULL):
    return subprocess.run([*THINGBID, *args], cwd=ROOT, capture_output=True, text=True, env={**os.environ, **(env or {})},
                          stdin=stdin, timeout=300)


def test_help_lists_subcommands():
    out = run("--help").stdout
    for name in ("contracts", "deploy", "bench", "up"):
        assert name in out


def test_bench_json_prints_one_object_per_line():
    res = run("bench", "compile", "--json", "--repeat", "1")
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert rows and all(r["compile_p50_ms"] > 0 for r in rows)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["deploy", "--rpc", "http://127.0.0.1:1"], "no EVM JSON-RPC endpoint answers at http://127.0.0.1:1"),
        (["deploy", "--rpc", "http://127.0.0.1:1", "--keystore", "/nonexistent.json"], "keystore password missing"),
    ],
)
def test_bad_deploy_input_is_one_line_without_traceback(args, message):
    res = run(*args, env={"THINGBID_KEYSTORE_PASSWORD": ""})
    assert res.returncode != 0
    assert message in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["up", "--keep"], {}, "--keep needs --rpc"),
        (["up", "--keep", "--chain", "embedded"], {}, "--keep needs --rpc"),
        (["up", "--keep", "--rpc", "http://127.0.0.1:1"], {"THINGBID_AGENT_PASSWORD": ""},
         "--keep needs $THINGBID_AGENT_PASSWORD"),
        (["up", "--agents", "0"], {}, "--agents and --tangle-nodes must be at least 1"),
    ],
)
def test_bad_up_options_are_one_line_and_start_nothing(tmp_path, args, env, message):
    res = run(*args, "--state-dir", str(tmp_path / "state"), env=env)
    assert res.returncode != 0
    assert message in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "state").exists()


def test_stale_artifact_blocks_deploy(tmp_path):
    # A copy of the repo's contracts with an edited source: check must fail, with one line.
    code = (
        "import shutil,sys; from pathlib import Path; import exchange.chain.artifacts as a;"
        f"d=Path({str(tmp_path)!r})/'contracts'; shutil.copytree(a.CONTRACTS_DIR, d);"
        "p=next(d.glob('*.sol')); p.write_text(p.read_text()+'\\n// edit\\n');"
        "a.check(d)"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode != 0 and "stale" in res.stderr
