"""The import graph keeps the shape docs/architecture.md draws: layers, no cycles, web3 in one room."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

from exchange.config import REPO_ROOT

PACKAGES = ("exchange", "device_agent", "frontend")
WEB3_PACKAGES = ("web3", "eth_tester")


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph(*PACKAGES, include_external_packages=True)


def ours(graph, packages=PACKAGES) -> set[str]:
    return {m for m in graph.modules if m.split(".")[0] in packages}


def import_cycles(graph, packages=PACKAGES) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    modules = ours(graph, packages)
    edges = {m: sorted(x for x in graph.find_modules_directly_imported_by(m) if x in modules) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(modules):
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if i < len(edges[node]):
                work.append((node, i + 1))
                nxt = edges[node][i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return found


def test_no_module_import_cycles(graph):
    assert import_cycles(graph) == []


def test_the_cycle_finder_sees_a_cycle_through_a_function_level_import(tmp_path, monkeypatch):
    pkg = tmp_path / "cyclepkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from cyclepkg import b\n")
    (pkg / "b.py").write_text("def f():\n    from cyclepkg import a\n")
    (pkg / "c.py").write_text("from cyclepkg import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    g = grimp.build_graph("cyclepkg", cache_dir=None)
    assert import_cycles(g, ("cyclepkg",)) == [["cyclepkg.a", "cyclepkg.b"]]


def test_only_exchange_chain_imports_web3(graph):
    outside = sorted(m for m in ours(graph) if not m.startswith("exchange.chain")
                     and any(x.split(".")[0] in WEB3_PACKAGES for x in graph.find_modules_directly_imported_by(m)))
    assert outside == []


def test_the_layer_contracts_of_import_linter_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken." in done.stdout


# The fuzz target reads eth-tester's raw blocks for its state digest: a test harness, not a client.
CHAIN_INTERNALS_ALLOWED = {"exchange/fuzz/targets.py"}


def test_no_web3_handles_outside_exchange_chain():
    """The chain seam: code outside exchange/chain asks Chain, never its web3 or eth-tester handles."""
    uses = []
    for pkg in PACKAGES:
        for path in sorted((REPO_ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(REPO_ROOT).as_posix()
            if rel.startswith("exchange/chain/") or rel in CHAIN_INTERNALS_ALLOWED:
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if re.search(r"[a-z_)]\.(w3|tester)\.[a-z_]+", line) and "www.w3.org" not in line:
                    uses.append(f"{rel}:{n}: {line.strip()}")
    assert uses == []
