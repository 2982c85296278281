"""Compiled artifacts in contracts/build/<Name>.json: build, check freshness, load.

Each source file is compiled on its own (with what it imports), so one broken source never
blocks the others' artifacts, and an artifact goes stale only when its own source or an
import changes. The runtime and the tests only load artifacts: running needs no compiler.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from exchange.chain.compiler import (
    CONTRACTS_DIR,
    SOLC_VERSION,
    Compiler,
    compile_sources,
    import_closure,
    settings,
    source_files,
    sources_hash,
)
from exchange.errors import ArtifactError, CompilerError

BUILD_DIR = CONTRACTS_DIR / "build"


def enums_of(ast: dict) -> dict[str, list[str]]:
    """Every enum a source unit's AST defines (at file level or in a contract), by its plain name,
    with its members in declaration order (member i is value i)."""
    found: dict[str, list[str]] = {}

    def walk(node):
        if isinstance(node, dict):
            if node.get("nodeType") == "EnumDefinition":
                found[node["name"]] = [m["name"] for m in node["members"]]
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(ast)
    return found



def build(compiler: Compiler | None = None, contracts_dir: Path = CONTRACTS_DIR, build_dir: Path | None = None,
          only: list[str] | None = None) -> list[Path]:
    """Compile every source (or those named in ``only``) and write one artifact per contract it defines.

    Raises CompilerError naming every source that failed, after writing all that compiled.
    """
    from exchange.chain.compiler import resolve_compiler

    build_dir = build_dir or contracts_dir / "build"
    compiler = compiler or resolve_compiler()
    files = source_files(contracts_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    failures: list[str] = []
    for unit in files:
        if only and Path(unit).stem not in only and unit not in only:
            continue
        closure = import_closure(unit, files)
        try:
            out = compile_sources({u: files[u].read_text() for u in closure}, compiler)
        except CompilerError as exc:
            failures.append(f"{unit}: {exc}")
            continue
        digest = sources_hash(unit, contracts_dir)
        for name, c in sorted(out.get("contracts", {}).get(unit, {}).items()):
            artifact = {
                "contractName": name,
                "sourceName": unit,
                "abi": c["abi"],
                "bytecode": "0x" + c["evm"]["bytecode"]["object"],
                "deployedBytecode": "0x" + c["evm"]["deployedBytecode"]["object"],
                "devdoc": c.get("devdoc", {}),
                "userdoc": c.get("userdoc", {}),
                "enums": {u: enums_of(out["sources"][u].get("ast", {})) for u in closure
                          if enums_of(out["sources"][u].get("ast", {}))},
                "compiler": {"version": compiler.version, "pinned": SOLC_VERSION, "settings": settings()},
                "sourceHash": hashlib.sha256(files[unit].read_bytes()).hexdigest(),
                "sourcesHash": digest,
            }
            path = build_dir / f"{name}.json"
            path.write_text(json.dumps(artifact, indent=1, sort_keys=True) + "\n")
            written.append(path)
    if not only:
        for old in build_dir.glob("*.json"):
            if json.loads(old.read_text()).get("sourceName") not in files:
                old.unlink()
    if failures:
        raise CompilerError("\n".join(failures))
    return written


def stale_reasons(contracts_dir: Path = CONTRACTS_DIR, build_dir: Path | None = None) -> list[str]:
    """Why the artifacts do not match the sources; empty when they are fresh."""
    build_dir = build_dir or contracts_dir / "build"
    files = source_files(contracts_dir)
    artifacts = sorted(build_dir.glob("*.json")) if build_dir.exists() else []
    reasons = []
    built_units = set()
    for path in artifacts:
        art = json.loads(path.read_text())
        unit = art.get("sourceName")
        built_units.add(unit)
        if unit not in files:
            reasons.append(f"{path.name} is stale: its source {unit} is gone")
        elif art.get("sourcesHash") != sources_hash(unit, contracts_dir):
            reasons.append(f"{path.name} is stale: {unit} or an import changed since it was built")
    for unit, path in files.items():
        text = path.read_text()
        defines = any(line.lstrip().startswith(("contract ", "abstract contract ", "library ", "interface "))
                      for line in text.splitlines())
        if defines and unit not in built_units:
            reasons.append(f"{unit} has no artifact")
    return reasons


def check(contracts_dir: Path = CONTRACTS_DIR, build_dir: Path | None = None) -> None:
    reasons = stale_reasons(contracts_dir, build_dir)
    if reasons:
        more = f" (+{len(reasons) - 3} more)" if len(reasons) > 3 else ""
        raise ArtifactError("; ".join(reasons[:3]) + more + " — run `thingbid contracts build`")


def load_artifact(name: str, build_dir: Path = BUILD_DIR) -> dict:
    """The artifact of contract ``name``; raises ArtifactError if missing."""
    path = build_dir / f"{name}.json"
    if not path.exists():
        raise ArtifactError(f"no artifact for contract {name!r} in {build_dir}: run `thingbid contracts build`")
    return json.loads(path.read_text())


def artifact_hash(name: str, build_dir: Path = BUILD_DIR) -> str:
    art = load_artifact(name, build_dir)
    return hashlib.sha256((art["bytecode"] + json.dumps(art["abi"], sort_keys=True)).encode()).hexdigest()
