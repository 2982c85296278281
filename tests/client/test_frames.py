"""Pure parts of the client: history windows, the tidy frame, amounts and times (no chain)."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.client.errors import ClientInputError, DeviceReadError
from exchange.client.exchange import to_unix, to_wei
from exchange.client.frames import DeviceSeries, readings_frame
from exchange.client.reader import MAX_POINTS, history_forms, windows


@given(st.integers(0, 2**34), st.integers(0, 90 * 86_400), st.integers(1, 7_200))
def test_windows_cover_the_span_once_each_within_one_answer(start, span, step):
    end = start + span
    ws = windows(start, end, step)
    assert ws[0][0] == start and ws[-1][1] == end
    for (_lo, hi), (nxt, _) in zip(ws, ws[1:], strict=False):
        assert nxt == hi + 1  # contiguous, no overlap
        assert (hi + 1) % step == 0  # windows end on the step grid: no bucket is split
    for lo, hi in ws:
        assert lo <= hi and hi // step - lo // step + 1 <= MAX_POINTS


def test_an_empty_span_has_no_window_and_a_zero_step_is_refused():
    assert windows(10, 9, 60) == []
    with pytest.raises(ClientInputError):
        windows(0, 10, 0)


def test_the_frame_keeps_numbers_only_sorted_without_duplicates_in_utc():
    s = DeviceSeries("0xaa")
    s.add("power", "watt", [{"t": 120, "value": 3}, {"t": 60, "value": True}, {"t": 90, "value": "4"},
                            {"t": 100, "value": float("inf")}, None, {"t": 61}])
    s.add("power", "watt", [{"t": 120, "value": 3}])  # a device repeating a reading on a window edge
    frame = readings_frame([s, DeviceSeries("0xbb")])
    assert list(frame.columns) == ["device", "property", "time", "value", "unit"]
    assert list(frame["value"]) == [1.0, 3.0] and s.dropped == 4
    assert list(frame["time"]) == [pd.Timestamp(60, unit="s", tz="UTC"), pd.Timestamp(120, unit="s", tz="UTC")]
    assert str(frame["time"].dtype.tz) == "UTC"


@pytest.mark.parametrize("td", [None, {}, {"properties": {}}, {"actions": {"history": {"forms": []}}},
                                {"actions": {"history": {"forms": [{"href": "file:///etc/passwd"}]}}},
                                {"actions": {"history": {"forms": [{"href": "/relative"}]}}}])
def test_a_td_without_a_usable_history_form_is_a_device_read_error(td):
    with pytest.raises(DeviceReadError):
        history_forms(td)


def test_the_history_form_is_resolved_against_the_td_base():
    form = history_forms({"base": "http://dev.example/", "properties": {"t": {"type": "number", "unit": "K"},
                                                                         "name": {"type": "string"}},
                          "actions": {"history": {"forms": [{"href": "actions/history"}]}}})
    assert form.href == "http://dev.example/actions/history" and [p.name for p in form.properties] == ["t"]


@pytest.mark.parametrize("bad", ["lots", "-1", "1e-30", float("nan"), "inf", None])
def test_bad_amounts_of_eth_are_refused(bad):
    with pytest.raises(ClientInputError):
        to_wei(bad)


def test_amounts_and_times_convert_exactly():
    assert to_wei("0.002") == 2 * 10**15 and to_wei(1) == 10**18
    assert to_unix("2026-12-01", 0) == 1796083200 and to_unix(None, 7) == 7
    assert to_unix(pd.Timestamp("2026-12-01T01:00:00+01:00"), 0) == 1796083200
    with pytest.raises(ClientInputError):
        to_unix("the day after tomorrow", 0)
