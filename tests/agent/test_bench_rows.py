"""`device-agent bench` recorder rows have the names and fields issue 16 asks for (figures are
printed by the bench, never asserted here)."""

from __future__ import annotations

from device_agent.bench import nodewot_rows, recorder_rows


def test_recorder_rows_name_ingest_history_and_proxy_read():
    rows = list(recorder_rows(ingest=500, queries=3))
    ops = [r["op"] for r in rows]
    assert ops[:3] == ["recorder_ingest", "recorder_ingest", "history_92d"] and ops[3] == "proxy_read"
    assert all(r["readings_per_s"] > 0 for r in rows[:2])
    assert rows[2]["readings"] == 92 * 86_400 // 10 and rows[2]["p95_ms"] > 0
    assert rows[3]["p50_ms"] > 0  # node-wot is installed by ./scripts/setup


def test_nodewot_read_all_row_is_node_wot_reading_every_property():
    (row,) = nodewot_rows(reads=3)
    assert row["op"] == "nodewot_read_all" and "error" not in row, row
    assert row["properties"] == 6 and row["p50_ms"] > 0  # node-wot is installed by ./scripts/setup
