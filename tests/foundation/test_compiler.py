import json
import shutil

import pytest

from exchange.chain import artifacts
from exchange.chain.compiler import available_compilers, compile_sources
from exchange.errors import ArtifactError, CompilerError

SRC = """// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;
contract Counter { uint256 private n; error TooBig(uint256 got); event Bumped(uint256 n);
  function bump(uint256 by) external { if (by > 10) revert TooBig(by); n += by; emit Bumped(n); }
  function value() external view returns (uint256) { return n; } }
"""


@pytest.mark.parametrize("compiler", available_compilers(), ids=lambda c: c.kind)
def test_each_available_compiler_compiles_a_contract(compiler):
    out = compile_sources({"contracts/Counter.sol": SRC}, compiler)
    c = out["contracts"]["contracts/Counter.sol"]["Counter"]
    assert c["evm"]["bytecode"]["object"]
    assert {i["name"] for i in c["abi"]} >= {"bump", "value", "TooBig", "Bumped"}


def test_npm_solc_path_is_available():
    assert "solc-js" in [c.kind for c in available_compilers()]


def test_thingbid_solc_env_takes_precedence(monkeypatch):
    wrapper = next(c for c in available_compilers() if c.kind == "solc-js")
    monkeypatch.setenv("THINGBID_SOLC", str(wrapper.path))
    assert available_compilers()[0].kind == "env"


def test_bad_thingbid_solc_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("THINGBID_SOLC", str(tmp_path / "no-such-solc"))
    with pytest.raises(CompilerError, match="does not answer --version"):
        available_compilers()


def test_syntax_error_is_a_compiler_error():
    with pytest.raises(CompilerError, match="compilation failed"):
        compile_sources({"contracts/Bad.sol": "pragma solidity 0.8.28; contract Bad { function ( }"})


@pytest.fixture
def contracts_copy(tmp_path):
    src = tmp_path / "contracts"
    src.mkdir()
    (src / "Counter.sol").write_text(SRC)
    return src


def test_check_fails_after_source_edit_and_passes_after_build(contracts_copy):
    assert artifacts.stale_reasons(contracts_copy)  # nothing built yet
    artifacts.build(contracts_dir=contracts_copy)
    assert artifacts.stale_reasons(contracts_copy) == []
    art = json.loads((contracts_copy / "build" / "Counter.json").read_text())
    assert art["compiler"]["pinned"] == "0.8.28" and art["compiler"]["settings"]["optimizer"]["enabled"]
    assert set(art) >= {"abi", "bytecode", "deployedBytecode", "sourceHash", "sourcesHash"}
    (contracts_copy / "Counter.sol").write_text(SRC.replace("by > 10", "by > 11"))
    with pytest.raises(ArtifactError, match="stale"):
        artifacts.check(contracts_copy)
    artifacts.build(contracts_dir=contracts_copy)
    artifacts.check(contracts_copy)


def test_new_source_without_artifact_is_stale(contracts_copy):
    artifacts.build(contracts_dir=contracts_copy)
    shutil.copy(contracts_copy / "Counter.sol", contracts_copy / "Other.sol")
    (contracts_copy / "Other.sol").write_text(SRC.replace("Counter", "Other"))
    assert any("Other" in r or "stale" in r for r in artifacts.stale_reasons(contracts_copy))


def test_repository_artifacts_are_fresh():
    assert artifacts.stale_reasons() == []
