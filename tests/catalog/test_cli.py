"""``thingbid catalog query|device`` over a catalog indexed from a real chain."""

from __future__ import annotations

import json

from exchange.catalog.indexer import Indexer
from exchange.cli import main


def test_query_and_device_print_json(chain, reg, fleet, tmp_path, capsys):
    items, _ = fleet
    url = f"sqlite:///{tmp_path / 'c.db'}"
    Indexer(chain, reg.address, url).sync()
    assert main(["catalog", "query", "--database-url", url, "--type", "Refrigerator", "--near", "52.52,13.40,10",
                 "--sort", "distance"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[-1] == {"total": 2, "total_exact": True, "page": 1, "per_page": 20}
    assert {d["geohash"] for d in lines[:-1]} == {"u33db", "u33dc"}
    assert main(["catalog", "device", "0x" + items[0].device_id.hex(), "--database-url", url]) == 0
    assert json.loads(capsys.readouterr().out)["td"]["title"].startswith("Refrigerator")


def test_bad_filter_is_one_line_error(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    assert main(["catalog", "query", "--database-url", url, "--near", "52.5,13.4"]) != 0
    assert "near: expected LAT,LON,KM" in capsys.readouterr().err
    assert main(["catalog", "device", "0x" + "00" * 32, "--database-url", url]) != 0
    assert "is not in the catalog" in capsys.readouterr().err
