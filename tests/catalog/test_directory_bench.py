"""`thingbid bench directory` rows have the names and fields issue 15 asks for (figures are
printed by the bench, never asserted here)."""

from __future__ import annotations

import argparse

from exchange.bench import directory


def test_directory_bench_rows_are_list_and_jsonpath_with_p95():
    parser = argparse.ArgumentParser()
    directory.add_arguments(parser)
    rows = list(directory.run(parser.parse_args(["--devices", "300", "--queries", "8", "--page", "20"])))
    assert [r["op"] for r in rows] == ["list", "jsonpath"]
    assert all(r["devices"] == 300 and r["p95_ms"] > 0 for r in rows)
    assert rows[1]["indexed_p95_ms"] > 0 and rows[1]["scanned_p95_ms"] > 0
