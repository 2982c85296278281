"""Write docs/benchmarks.md from benchmark rows: figures, the machine, and SVG charts."""

from __future__ import annotations

import html
import json
import os
import platform
import subprocess
from pathlib import Path


def svg_line_chart(series: dict[str, list[tuple[float, float]]], title: str, xlabel: str, ylabel: str,
                   width: int = 560, height: int = 360, log_x: bool = False) -> str:
    """A small self-contained SVG line chart (no JS, no external fonts)."""
    import math

    pts = [p for s in series.values() for p in s]
    if not pts:
        return ""
    fx = (lambda v: math.log10(v)) if log_x else (lambda v: v)
    xs = [fx(x) for x, _ in pts]
    ys = [y for _, y in pts]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = 0.0, max(ys) * 1.1 or 1.0
    L, R, T, B = 70, 20, 40, 50 + 18 * len(series)  # the legend sits under the axis label
    def px(x): return L + (fx(x) - x0) / (x1 - x0) * (width - L - R)
    def py(y): return height - B - (y - y0) / (y1 - y0) * (height - T - B)
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">{html.escape(title)}</text>',
           f'<line x1="{L}" y1="{height - B}" x2="{width - R}" y2="{height - B}" stroke="black"/>',
           f'<line x1="{L}" y1="{T}" x2="{L}" y2="{height - B}" stroke="black"/>',
           f'<text x="{width / 2}" y="{height - B + 36}" text-anchor="middle">{html.escape(xlabel)}</text>',
           f'<text x="15" y="{height / 2}" text-anchor="middle" transform="rotate(-90 15 {height / 2})">{html.escape(ylabel)}</text>']
    for i in range(5):
        yv = y0 + (y1 - y0) * i / 4
        out.append(f'<text x="{L - 5}" y="{py(yv) + 4}" text-anchor="end">{yv:,.0f}</text>')
        out.append(f'<line x1="{L}" y1="{py(yv)}" x2="{width - R}" y2="{py(yv)}" stroke="#ddd"/>')
    for x in sorted({x for x, _ in pts}):
        out.append(f'<text x="{px(x)}" y="{height - B + 16}" text-anchor="middle">{x:g}</text>')
    for k, (name, s) in enumerate(series.items()):
        c = colors[k % len(colors)]
        s = sorted(s)
        out.append(f'<polyline fill="none" stroke="{c}" stroke-width="2" points="{" ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in s)}"/>')
        out += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{c}"/>' for x, y in s]
        out.append(f'<text x="{L}" y="{height - B + 56 + 18 * k}" fill="{c}">&#9632; {html.escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out)


# (bench, op or mode or None, figure, comparison, goal) from the issues that asked for each figure.
GOALS = [
    ("gas", "checkin", "gas", "<=", 120_000),
    ("gas", "bid_batch100_per_bid", "gas", "<=", 25_000),
    ("gas", "withdraw", "gas", "<=", 30_000),
    ("gas", "settle_batch100_per_auction", "gas", "<=", 40_000),
    ("catalog", None, "p95_ms", "<", 50),
    ("directory", "list", "p95_ms", "<", 50),
    ("directory", "jsonpath", "p95_ms", "<", 250),
    ("fuzz", None, "status_5xx", "<=", 0),
    ("indexer", None, "events_per_s", ">=", 2000),
    ("tangle", None, "ingest_tps", ">=", 1000),
    ("tangle", "http_batch_value", "submit_tps", ">=", 5000),
    ("tangle-scale", None, "restart_s", "<", 10),
    ("tangle-scale", None, "rss_mb", "<", 500),
    ("tangle-net", "network", "confirm_p99_s", "<", 2),
    ("tangle-net", "network", "confirmed_lost", "<=", 0),
    ("purchase", None, "payment_to_key_p50_ms", "<", 1000),
    ("purchase", None, "messages_per_s", ">=", 2000),
    ("ui", None, "plan_and_place_s", "<", 10),
    ("ui", "signin", "p50_ms", "<", 1000),
    ("ui", "browser_1000_bids", "wall_s", "<", 15),
    ("ui", "browser_1000_bids", "batches", "<=", 10),
    ("relay", "added_latency", "p50_ms", "<", 5),
    ("relay", "devices", "rss_mb", "<", 500),
    ("relay", "devices", "connected", ">=", 1000),
    ("relay", "reconnect", "p95_s", "<", 5),
    ("sdk", "read_100_keys_30d", "wall_s", "<", 30),
    ("demo", None, "time_to_first_key_s", "<", 180),
]
_CMP = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b}


def goal_rows(by_bench: dict[str, list[dict]]) -> list[str]:
    out = ["| bench | figure | measured | goal | met |", "| --- | --- | --- | --- | --- |"]
    for bench, op, key, cmp, goal in GOALS:
        row = next((r for r in by_bench.get(bench, []) if key in r
                    and (op is None or op in (r.get("op"), r.get("mode")))), None)
        name = f"{op} {key}" if op else key
        if row is None:
            out.append(f"| {bench} | {name} | not measured | {cmp} {goal:,} | - |")
        else:
            out.append(f"| {bench} | {name} | {row[key]:,} | {cmp} {goal:,} | {'yes' if _CMP[cmp](row[key], goal) else 'NO'} |")
    return out


def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "memory": mem, "python": platform.python_version(),
            "os": platform.platform(), "commit": commit}


def write_report(rows: list[dict], out_dir: Path) -> Path:
    """docs/benchmarks.md plus docs/img/*.svg from ``thingbid bench all --json`` rows."""
    img = out_dir / "img"
    img.mkdir(parents=True, exist_ok=True)
    m = machine()
    lines = ["# Benchmarks", "", "Written by `scripts/bench-report` (which runs `thingbid bench all --json`).",
             "Figures are medians unless named otherwise; this machine is shared and noisy, so compare ratios.", "",
             "## Machine", "", *[f"- {k}: {v}" for k, v in m.items()], ""]
    by_bench: dict[str, list[dict]] = {}
    for r in rows:
        by_bench.setdefault(r.get("bench", "?"), []).append(r)
    lines += ["## Goals", "", *goal_rows(by_bench), ""]
    charts = []
    gas_batch = [(r["batch_size"], r["gas_per_bid"]) for r in by_bench.get("gas", []) if "batch_size" in r and "gas_per_bid" in r]
    if gas_batch:
        (img / "gas-per-bid.svg").write_text(svg_line_chart({"gas per bid": gas_batch}, "Gas per bid vs batch size",
                                                            "bids per transaction", "gas per bid", log_x=True))
        charts.append(("Gas per bid vs batch size", "img/gas-per-bid.svg"))
    pow_rows = [r for r in by_bench.get("tangle", []) if "issue_ms_per_tx" in r]
    if pow_rows:
        series = {"node ingest tx/s": [(r["pow_difficulty"], r["ingest_tps"]) for r in pow_rows],
                  "issuer tx/s (one core doing PoW)": [(r["pow_difficulty"], 1000 / max(r["issue_ms_per_tx"], 1e-3))
                                                       for r in pow_rows]}
        (img / "tangle-pow.svg").write_text(svg_line_chart(series, "Tangle throughput vs PoW difficulty",
                                                           "PoW difficulty (leading zero bits)", "transactions per second"))
        charts.append(("Tangle throughput vs PoW difficulty", "img/tangle-pow.svg"))
    if charts:
        lines += ["## Charts", ""]
        lines += [f"### {t}\n\n![{t}]({p})\n" for t, p in charts]
    lines += ["## Figures", ""]
    for bench, rs in by_bench.items():
        lines += [f"### {bench}", "", "```json", *[json.dumps({k: v for k, v in r.items() if k != "bench"}) for r in rs], "```", ""]
    path = out_dir / "benchmarks.md"
    path.write_text("\n".join(lines))
    return path
