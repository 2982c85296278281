from exchange.bench._report import svg_line_chart, write_report


def test_report_marks_goals_met_and_missed_and_draws_charts(tmp_path):
    rows = [
        {"bench": "gas", "op": "checkin", "gas": 113_000},
        {"bench": "gas", "op": "withdraw", "gas": 31_000},
        {"bench": "gas", "op": "bid_batch_per_bid", "batch_size": 1, "gas_per_bid": 52_000},
        {"bench": "gas", "op": "bid_batch_per_bid", "batch_size": 100, "gas_per_bid": 20_500},
        {"bench": "tangle", "pow_difficulty": 8, "ingest_tps": 7000.0, "issue_ms_per_tx": 0.2},
    ]
    text = write_report(rows, tmp_path).read_text()
    assert "| gas | checkin gas | 113,000 | <= 120,000 | yes |" in text
    assert "| gas | withdraw gas | 31,000 | <= 30,000 | NO |" in text
    assert "| ui | plan_and_place_s | not measured |" in text
    assert (tmp_path / "img" / "gas-per-bid.svg").read_text().startswith("<svg")
    assert "tangle-pow.svg" in text


def test_chart_escapes_labels():
    svg = svg_line_chart({"<b>x</b>": [(1, 2), (2, 3)]}, "t<script>", "x", "y")
    assert "<script>" not in svg and "&lt;b&gt;" in svg
