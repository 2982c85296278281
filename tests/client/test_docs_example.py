"""The example in docs/client.md, run as written against the real market (a thermostat is bought)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from tests.client.conftest import BUYER_PASSWORD, with_time_left

pytestmark = [pytest.mark.anvil, pytest.mark.slow]
DOC = Path(__file__).resolve().parents[2] / "docs" / "client.md"


def example() -> str:
    """The first Python block under "From a filter to a DataFrame"."""
    section = DOC.read_text().split("## From a filter to a DataFrame", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_example_goes_from_a_filter_to_a_dataframe_in_at_most_ten_lines():
    lines = [ln for ln in example().splitlines() if ln.strip()]
    assert len(lines) <= 10, lines
    assert lines[0] == "from exchange.client import Exchange" and any("ex.read(" in ln for ln in lines)


def test_the_example_runs_as_written(world, tmp_path, monkeypatch):
    code = example()
    # The example names the paths `thingbid up` uses; here they are this test's market.
    code = code.replace(".thingbid/run/client.toml", str(world.config))
    code = code.replace(".thingbid/run/keystores/demo.json", str(world.keystore))
    monkeypatch.setenv("THINGBID_KEYSTORE_PASSWORD", BUYER_PASSWORD)
    monkeypatch.chdir(tmp_path)
    with world.connect() as ex:
        (thermostat,) = ex.search(device_type="Thermostat")["device_id"]
    with_time_left(world, [thermostat])
    # Run up to the keys, let the bought period record a few readings (one a second), then the rest.
    head, tail = code.split("df = ", 1)
    scope: dict = {}
    exec(compile(head, str(DOC), "exec"), scope)
    world.wait_seconds(4)
    exec(compile("df = " + tail, str(DOC), "exec"), scope)
    df = scope["df"]
    assert [k.device_id for k in scope["keys"]] == [thermostat]
    assert len(df) > 0 and set(df["device"]) == {thermostat}
    assert "roomTemperature" in set(df["property"])
    assert pd.read_parquet(tmp_path / "thermostats.parquet").equals(df)
