"""Slither over every contract in contracts/, compiled through the project's solc-js wrapper.

crytic-compile's default (``solc --combined-json``) is not something the wrapper answers, so
the sources are handed over as one standard-JSON compilation (``SolcStandardJson``), the same
interface the wrapper implements. Triage of excluded detectors: docs/slither-triage.md.
"""

from __future__ import annotations

import json
import shutil

import pytest

from exchange.chain.compiler import WRAPPER, source_files
from exchange.config import REPO_ROOT

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is needed for the solc-js wrapper")

MY_SOURCES = ("contracts/AuctionHouse.sol", "contracts/IAuctionMechanism.sol", "contracts/mechanisms/", "contracts/test/")


def _run_slither():
    from crytic_compile.platform.solc_standard_json import SolcStandardJson
    from slither import Slither
    from slither.detectors import all_detectors
    from slither.detectors.abstract_detector import AbstractDetector, DetectorClassification

    config = json.loads((REPO_ROOT / "slither.config.json").read_text())
    excluded = set(config["detectors_to_exclude"].split(","))
    target = SolcStandardJson()
    target.add_source_files(list(source_files()))
    sl = Slither(target, solc=str(WRAPPER), solc_disable_warnings=True, solc_working_dir=str(REPO_ROOT))
    detectors = [d for d in vars(all_detectors).values()
                 if isinstance(d, type) and issubclass(d, AbstractDetector) and d.ARGUMENT not in excluded]
    for d in detectors:
        sl.register_detector(d)
    results = [r for per_detector in sl.run_detectors() for r in per_detector]
    severe = {DetectorClassification.HIGH.name.lower(), DetectorClassification.MEDIUM.name.lower()}
    return [r for r in results if r["impact"].lower() in severe]


def test_slither_finds_no_untriaged_high_or_medium(monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    findings = _run_slither()
    mine = [f for f in findings if any(el.get("source_mapping", {}).get("filename_relative", "").startswith(MY_SOURCES)
                                       for el in f["elements"])]
    assert not mine, "\n".join(f["description"] for f in mine)
