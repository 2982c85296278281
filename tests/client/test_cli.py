"""``thingbid search|bid|keys|data export`` against the real market, and bad input as one line."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from exchange.cli import main
from tests.client.conftest import BUYER_PASSWORD, with_time_left

pytestmark = [pytest.mark.anvil, pytest.mark.slow]


@pytest.fixture
def conn(world, tmp_path, monkeypatch):
    monkeypatch.setenv("THINGBID_KEYSTORE_PASSWORD", BUYER_PASSWORD)
    return ["--config", str(world.config), "--keystore", str(world.keystore)]


def test_search_bid_keys_and_export_in_every_format(world, conn, capsys, tmp_path):
    assert main(["search", "--type", "WashingMachine", "--json", *conn]) == 0
    (washer,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert washer["title"].startswith("Washing")
    with_time_left(world, [washer["device_id"]])
    assert main(["bid", "--type", "WashingMachine", "--max-price", "0.002", "--budget", "0.01", "--yes", *conn]) == 0
    out = capsys.readouterr()
    assert "1 bid(s) in 1 transaction(s)" in out.out and "gas about" in out.out and "1 placed" in out.out
    assert "placing bids" in out.err  # the progress bar
    assert main(["keys", "--wait", "--timeout", "120", "--json", *conn]) == 0
    keys = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert washer["device_id"] in {k["device_id"] for k in keys} and all("token" not in k for k in keys)
    world.wait_seconds(3)
    for fmt, read in (("csv", pd.read_csv), ("parquet", pd.read_parquet),
                      ("jsonl", lambda p: pd.read_json(p, lines=True))):
        out_file = tmp_path / f"washer.{fmt}"
        assert main(["data", "export", "--format", fmt, "--out", str(out_file), "--device", washer["device_id"],
                     *conn]) == 0, capsys.readouterr().err
        frame = read(out_file)
        assert list(frame.columns) == ["device", "property", "time", "value", "unit"] and len(frame) > 0
        assert set(frame["device"]) == {washer["device_id"]}
        capsys.readouterr()


@pytest.mark.parametrize(("args", "message"), [
    (["search", "--near", "52.5,13.4"], "--near: expected LAT,LON,KM"),
    (["search", "--geohash", "u33a!"], "not geohash characters"),
    (["search", "--limit", "0"], "limit must be a positive integer"),
    (["search", "--max-reserve", "lots"], "not an amount of ETH"),
    (["bid", "--max-price", "0.01", "--budget", "1", "--no-keystore"], "this needs your account"),
    (["bid", "--max-price", "x", "--budget", "1"], "not an amount of ETH"),
    (["bid", "--max-price", "0.01", "--budget", "-1"], "not a usable amount of ETH"),
    (["bid", "--device", "0x" + "ab" * 32, "--max-price", "0.01", "--budget", "1"], "is not in the catalog"),
    (["data", "export", "--format", "csv", "--out", "/tmp/x.csv", "--device", "0x" + "cd" * 32],
     "no key for device"),
    (["data", "export", "--format", "csv", "--out", "/tmp/x.csv", "--start", "soon-ish"], "not a time"),
    (["keys", "--keystore", "/nonexistent/buyer.json"], "does not exist"),
])
def test_bad_input_is_one_line_on_stderr_without_a_traceback(world, conn, capsys, args, message):
    if "--no-keystore" in args:
        args = [a for a in args if a != "--no-keystore"]
        conn = conn[:2]
    elif any(a.startswith("--keystore") for a in args):
        conn = conn[:2]
    code = main([*args, *conn])
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert message in err and "Traceback" not in err and len(err.splitlines()) == 1, err


def test_bid_without_a_terminal_asks_for_yes_and_places_nothing(world, conn, capsys):
    from exchange.chain.auction import AuctionHouseClient

    with world.connect() as ex:
        (tv,) = ex.search(device_type="Television")["device_id"]
    with_time_left(world, [tv])
    house = AuctionHouseClient.from_manifest(world.chain, world.manifest)
    before = house.balance_of(world.connect().address)
    assert main(["bid", "--device", tv, "--max-price", "0.002", "--budget", "0.01", *conn]) == 1
    captured = capsys.readouterr()
    assert "1 bid(s)" in captured.out and "pass --yes" in captured.err and len(captured.err.strip().splitlines()) == 1
    assert house.balance_of(world.connect().address) == before
