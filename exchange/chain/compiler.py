"""Find a Solidity compiler and compile the contracts through ``solcx.compile_standard``.

Resolution order: ``$THINGBID_SOLC``; a native solc that py-solc-x installed (of the pinned
version); the npm ``solc`` package through ``solc-js-wrapper.js`` (answers like native solc).
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import solcx
from solcx.exceptions import SolcError

from exchange.config import REPO_ROOT
from exchange.errors import CompilerError

SOLC_VERSION = "0.8.28"
EVM_VERSION = "cancun"
OPTIMIZER = {"enabled": True, "runs": 200}
CONTRACTS_DIR = REPO_ROOT / "contracts"
WRAPPER = Path(__file__).with_name("solc-js-wrapper.js")


@dataclass(frozen=True)
class Compiler:
    path: Path
    kind: str  # "env", "native" or "solc-js"
    version: str  # full version string reported by the binary


def _version_of(path: Path) -> str:
    try:
        return str(solcx.wrapper.get_version_str_from_solc_binary(path))
    except Exception as exc:  # noqa: BLE001 - any failure means this binary is unusable
        raise CompilerError(f"compiler {path} does not answer --version: {exc}") from exc


def available_compilers() -> list[Compiler]:
    """Every compiler path that works on this machine, in resolution order."""
    found: list[Compiler] = []
    env = os.environ.get("THINGBID_SOLC")
    if env:
        p = Path(env).resolve()
        found.append(Compiler(p, "env", _version_of(p)))
    try:
        native = Path(solcx.get_executable(SOLC_VERSION))
        found.append(Compiler(native, "native", _version_of(native)))
    except Exception:  # noqa: BLE001 - not installed is the normal case offline
        pass
    if shutil.which("node") and WRAPPER.exists():
        try:
            found.append(Compiler(WRAPPER.resolve(), "solc-js", _version_of(WRAPPER.resolve())))
        except CompilerError:
            pass
    return found


def resolve_compiler() -> Compiler:
    """The compiler to use, by the documented order; a clear error when there is none."""
    compilers = available_compilers()
    if not compilers:
        raise CompilerError("no Solidity compiler: set THINGBID_SOLC, or run ./scripts/setup (installs npm solc)")
    chosen = compilers[0]
    if chosen.kind != "env" and not chosen.version.startswith(SOLC_VERSION):
        raise CompilerError(f"compiler {chosen.path} is {chosen.version}, expected {SOLC_VERSION}")
    return chosen


def source_files(contracts_dir: Path = CONTRACTS_DIR) -> dict[str, Path]:
    """Source unit name (``contracts/X.sol``) -> path, for every .sol under contracts/."""
    return {
        p.relative_to(contracts_dir.parent).as_posix(): p
        for p in sorted(contracts_dir.rglob("*.sol"))
        if "build" not in p.relative_to(contracts_dir).parts
    }


def settings() -> dict:
    return {
        "optimizer": OPTIMIZER,
        "evmVersion": EVM_VERSION,
        # The AST of each unit: artifacts carry the enums' member names (the ABI has only uint8).
        "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "devdoc", "userdoc"],
                                  "": ["ast"]}},
    }


_IMPORT = re.compile(r'^\s*import\s+(?:[^"\']*from\s+)?["\']([^"\']+)["\']', re.M)


def import_closure(unit: str, files: dict[str, Path]) -> list[str]:
    """``unit`` and every source unit it imports, transitively (sorted)."""
    seen: set[str] = set()
    todo = [unit]
    while todo:
        u = todo.pop()
        if u in seen or u not in files:
            continue
        seen.add(u)
        for imp in _IMPORT.findall(files[u].read_text()):
            todo.append(posixpath.normpath(posixpath.join(posixpath.dirname(u), imp)) if imp.startswith(".") else imp)
    return sorted(seen)


def sources_hash(unit: str, contracts_dir: Path = CONTRACTS_DIR) -> str:
    """Hash over a unit, everything it imports, and the compiler settings: the artifact's freshness key."""
    files = source_files(contracts_dir)
    h = hashlib.sha256()
    h.update(json.dumps({"solc": SOLC_VERSION, "settings": settings()}, sort_keys=True).encode())
    for name in import_closure(unit, files):
        h.update(name.encode() + b"\0" + files[name].read_bytes() + b"\0")
    return h.hexdigest()


def compile_sources(sources: dict[str, str], compiler: Compiler | None = None) -> dict:
    """Compile {unit name: source text}; returns the standard-JSON output."""
    compiler = compiler or resolve_compiler()
    data = {"language": "Solidity", "sources": {k: {"content": v} for k, v in sources.items()}, "settings": settings()}
    try:
        return solcx.compile_standard(data, solc_binary=compiler.path, base_path=str(REPO_ROOT), allow_paths=str(REPO_ROOT))
    except SolcError as exc:
        raise CompilerError(f"compilation failed:\n{exc.message if hasattr(exc, 'message') else exc}") from exc
    except FileNotFoundError as exc:
        raise CompilerError(f"compiler {compiler.path} cannot be run: {exc}") from exc
