"""``thingbid bench sdk`` runs end to end and prints the row the issue names (small sizes here;
the figure itself is only ever printed by the bench, never asserted against a time)."""

from __future__ import annotations

import json

from exchange.cli import main


def test_bench_sdk_prints_one_row_with_every_reading_read(capsys):
    assert main(["bench", "sdk", "--json", "--devices", "3", "--days", "1"]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["op"] == "read_3_keys_1d" and row["rows"] == 3 * 1440 and row["devices"] == 3
    assert row["wall_s"] > 0 and row["rows_per_s"] > 0
