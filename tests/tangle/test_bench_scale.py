"""The tangle-scale benchmark runs end to end with pruning and reports the agreed keys (figures not asserted)."""

import argparse

from exchange.bench import tangle_scale


def test_bench_tangle_scale_restarts_a_pruned_node_and_reports_its_rows():
    p = argparse.ArgumentParser()
    tangle_scale.add_arguments(p)
    (row,) = tangle_scale.run(p.parse_args(["--txs", "1500", "--batch", "100", "--prune-depth", "5"]))
    assert {"restart_s", "rss_mb", "txs"} <= set(row) and row["txs"] == 1500
    assert row["restart_s"] > 0 and row["rss_mb"] > 0
    assert row["live_txs"] < 1500 and row["stored_rows"] < 1500  # pruned: memory and rows bounded
