"""Per-finding slither triage: list the findings of the detectors triaged one by one, or record
them in ``slither.db.json`` (slither's own triage database, honoured by the CLI and by
tests/auction/test_slither.py, which runs slither in-process from the repository root).

    .venv/bin/python -m tests.auction.slither_triage            # list findings, triaged or not
    .venv/bin/python -m tests.auction.slither_triage --write    # record them (after review!)

A finding's id hashes its source mapping, so editing a contract un-triages its findings: review
them again, explain each in docs/slither-triage.md, then ``--write``. Findings in other
contracts are never hidden by this: only the ids written here are.
"""

from __future__ import annotations

import argparse
import json
import os

from exchange.chain.compiler import WRAPPER, source_files
from exchange.config import REPO_ROOT

TRIAGED_ONE_BY_ONE = ("incorrect-equality",)
DB = REPO_ROOT / "slither.db.json"


def findings(detectors=TRIAGED_ONE_BY_ONE) -> list[dict]:
    """Every finding of ``detectors`` over contracts/, ignoring the triage database."""
    from crytic_compile.platform.solc_standard_json import SolcStandardJson
    from slither import Slither
    from slither.detectors import all_detectors
    from slither.detectors.abstract_detector import AbstractDetector

    os.chdir(REPO_ROOT)
    target = SolcStandardJson()
    target.add_source_files(list(source_files()))
    sl = Slither(target, solc=str(WRAPPER), solc_disable_warnings=True, solc_working_dir=str(REPO_ROOT),
                 triage_database="/nonexistent/slither.db.json")
    for d in vars(all_detectors).values():
        if isinstance(d, type) and issubclass(d, AbstractDetector) and d.ARGUMENT in detectors:
            sl.register_detector(d)
    return [r for per_detector in sl.run_detectors() for r in per_detector]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="record the current findings as triaged")
    args = ap.parse_args()
    found = findings()
    known = {r["id"] for r in json.loads(DB.read_text())} if DB.exists() else set()
    for r in found:
        print(("triaged " if r["id"] in known else "NEW     ") + r["id"][:12], r["description"].strip().replace("\n", " | "))
    if args.write:
        slim = [{"check": r["check"], "description": r["description"], "id": r["id"]} for r in found]
        DB.write_text(json.dumps(slim, indent=1, sort_keys=True) + "\n")
        print(f"wrote {len(found)} triaged findings to {DB.name}")


if __name__ == "__main__":
    main()
