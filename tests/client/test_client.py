"""The client library against a real market: search -> plan -> place -> keys -> one tidy frame."""

from __future__ import annotations

import pandas as pd
import pytest

from exchange.client import ClientInputError, Exchange, Key
from exchange.errors import ExchangeError
from tests.client.conftest import with_time_left

pytestmark = [pytest.mark.anvil, pytest.mark.slow]


def test_search_returns_one_row_per_matching_device_with_its_properties(world):
    with world.connect() as ex:
        fridges = ex.search(device_type="Refrigerator")
        everything = ex.search()
    assert len(fridges) == 2 and len(everything) == 5
    assert set(fridges["device_id"]) == {"0x" + r.agent.identity.device_id_hex for r in world.runners
                                         if r.agent.config.appliance == "fridge"}
    row = fridges.iloc[0]
    assert "temperature" in row["properties"] and "degree Celsius" in row["units"]
    assert row["reserve_eth"] == pytest.approx(0.001) and row["reserve_wei"] == 10**15


def test_plan_place_wait_and_read_two_fridges_into_one_tidy_frame(world, tmp_path):
    with world.connect() as ex:
        fridges = ex.search(device_type="Refrigerator")
        with_time_left(world, list(fridges["device_id"]))
        plan = ex.plan(fridges, max_price_eth="0.002", budget_eth=1)
        assert plan.count == 2 and plan.total_wei == 2 * 10**15 and plan.gas > 0 and plan.gas_wei > 0
        outcomes = ex.place(plan, progress=False)
        assert list(outcomes["status"]) == ["placed", "placed"], outcomes
        keys = ex.wait_for_keys(plan, timeout=120, progress=False)
        assert sorted(k.device_id for k in keys) == sorted(fridges["device_id"])
        world.wait_seconds(4)  # a few readings into the keys' periods (the fridges sample every second)
        frame = ex.read(keys, step=1, progress=False)
    assert list(frame.columns) == ["device", "property", "time", "value", "unit"]
    assert isinstance(frame["time"].dtype, pd.DatetimeTZDtype) and str(frame["time"].dtype.tz) == "UTC"
    assert set(frame["device"]) == set(fridges["device_id"])
    temps = frame[frame["property"] == "temperature"]
    assert len(temps) >= 2 * 3 and temps.groupby("device", observed=True).size().min() >= 3 and set(temps["unit"]) == {"degree Celsius"}
    for device, sub in temps.groupby("device", observed=True):
        sim = world.runner_of(device).agent.simulator
        for t, v in zip(sub["time"], sub["value"], strict=True):
            assert v == pytest.approx(sim.read("temperature", int(t.timestamp())))
    for key in keys:  # each device's readings lie in its key's period
        mine = frame[frame["device"] == key.device_id]["time"]
        assert key.not_before <= mine.min().timestamp() and mine.max().timestamp() < key.not_after
    # Out to files and back, through pandas and pyarrow.
    frame.to_parquet(tmp_path / "r.parquet")
    back = pd.read_parquet(tmp_path / "r.parquet")
    assert back.equals(frame)
    frame.to_csv(tmp_path / "r.csv", index=False)
    assert len(pd.read_csv(tmp_path / "r.csv")) == len(frame)


@pytest.mark.parametrize(("call", "message"), [
    (lambda ex: ex.search(limit=0), "limit must be a positive integer"),
    (lambda ex: ex.search(near=(52.5, 13.4)), "near must be (lat, lon, radius_km)"),
    (lambda ex: ex.search(geohash="u33a!"), "not geohash characters"),
    (lambda ex: ex.search(max_reserve_eth="lots"), "not an amount of ETH"),
    (lambda ex: ex.plan(["0x" + "ab" * 32], max_price_eth=1, budget_eth=1), "is not in the catalog"),
    (lambda ex: ex.plan([], max_price_eth=1), "give max_price_eth"),
    (lambda ex: ex.plan([], max_price_eth=-1, budget_eth=1), "not a usable amount of ETH"),
    (lambda ex: ex.read([]), "no keys to read with"),
    (lambda ex: ex.read(["tb1.x"]), "keys must be Key objects"),
    (lambda ex: ex.read([Key(1, "0x" + "ab" * 32, "tb1.x", 0, 10)], step=0), "step must be a positive integer"),
    (lambda ex: ex.read([Key(1, "0x" + "ab" * 32, "tb1.x", 0, 10)], start="yesterday-ish"), "not a time"),
    (lambda ex: ex.read([Key(1, "0x" + "ab" * 32, "tb1.x", 0, 10)], start=20, end=10), "is before start"),
    (lambda ex: ex.read([Key(1, "0x" + "ab" * 32, "tb1.x", 0, 10)], on_error="ignore"), "on_error must be"),
])
def test_bad_input_raises_one_exchange_error_and_sends_nothing(world, call, message):
    with world.connect() as ex:
        nonce = world.chain.w3.eth.get_transaction_count(ex.address)
        with pytest.raises(ExchangeError) as info:
            call(ex)
        assert message in str(info.value)
        assert world.chain.w3.eth.get_transaction_count(ex.address) == nonce


def test_a_read_only_connection_searches_but_refuses_to_bid(world):
    with Exchange.connect(config=world.config) as ex:
        assert len(ex.search(device_type="Refrigerator")) == 2
        with pytest.raises(ExchangeError, match="needs an account"):
            ex.keys()


def test_input_errors_are_value_errors_too():
    assert issubclass(ClientInputError, ValueError) and issubclass(ClientInputError, ExchangeError)
