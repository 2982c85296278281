"""The purchase benchmark runs end to end and reports the agreed keys (figures are not asserted)."""

import argparse

from exchange.bench import purchase


def test_bench_purchase_reports_latency_and_throughput():
    p = argparse.ArgumentParser()
    purchase.add_arguments(p)
    (row,) = purchase.run(p.parse_args(["--purchases", "2", "--messages", "30"]))
    assert row["ledger"] == "tangle" and row["messages_read"] == 30
    assert row["payment_to_key_p50_ms"] > 0 and row["messages_per_s"] > 0
