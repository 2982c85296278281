"""Simulated appliances: deterministic in (seed, time), typed as their profiles say, with daily patterns."""

from __future__ import annotations

import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device_agent.errors import UnknownApplianceError, UnknownPropertyError
from device_agent.simulators import SIMULATORS, make_simulator

T0 = 1_763_596_800  # 2025-11-20 00:00 UTC, a Thursday
DAY = 86_400
KINDS = list(SIMULATORS)
TYPES = {"number": (int, float), "integer": (int,), "boolean": (bool,), "string": (str,)}


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_readings_fresh_instances(kind):
    a, b = make_simulator(kind, 42), make_simulator(kind, 42)
    # Read b in a different order so no cache can make them agree by accident.
    times = [T0 + i * 997 for i in range(200)]
    sa = [a.snapshot(t) for t in times]
    sb = [b.snapshot(t) for t in reversed(times)][::-1]
    assert sa == sb


@pytest.mark.parametrize("kind", KINDS)
def test_different_seeds_differ(kind):
    a, b = make_simulator(kind, 1), make_simulator(kind, 2)
    times = [T0 + i * 1800 for i in range(7 * 48)]
    assert [a.snapshot(t) for t in times] != [b.snapshot(t) for t in times]


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(KINDS), seed=st.integers(0, 10**6), t=st.integers(0, 2**33))
def test_readings_match_their_schema(kind, seed, t):
    sim = make_simulator(kind, seed)
    for name, spec in sim.props.items():
        v = sim.read(name, t)
        assert isinstance(v, TYPES[spec.type]) and (spec.type != "integer" or not isinstance(v, bool)), (name, v)
        if spec.minimum is not None:
            assert v >= spec.minimum, (name, v)
        if spec.maximum is not None:
            assert v <= spec.maximum, (name, v)
        if spec.enum:
            assert v in spec.enum


@pytest.mark.parametrize("kind", KINDS)
def test_history_of_any_period_equals_pointwise_reads(kind):
    sim = make_simulator(kind, 5)
    name = sim.PROPERTIES[0].name
    hist = sim.history(name, T0 - 400 * DAY, T0 - 399 * DAY, 600)
    assert len(hist) == 145
    assert all(p["value"] == make_simulator(kind, 5).read(name, p["t"]) for p in hist)


def _hourly_share(sim, prop, truthy, days=21):
    counts = [0] * 24
    for d in range(days):
        for h in range(24):
            for m in range(0, 60, 10):
                if truthy(sim.read(prop, T0 + d * DAY + h * 3600 + m * 60)):
                    counts[h] += 1
    return counts


def test_tv_is_watched_in_the_evening_not_at_night():
    counts = _hourly_share(make_simulator("tv", 9), "on", bool)
    assert sum(counts[19:23]) > 5 * max(1, sum(counts[1:5]))


def test_fridge_door_opens_around_meals_and_rarely_at_night():
    sim = make_simulator("fridge", 4)
    evs = sim.events(T0, T0 + 14 * DAY, "doorOpened")
    hours = [int((e["t"] % DAY) // 3600) for e in evs]
    assert len(evs) > 14 * 8
    assert sum(1 for h in hours if 17 <= h <= 21) > 4 * sum(1 for h in hours if 0 <= h <= 4)


def test_fridge_temperature_stays_in_a_fridge_range_and_energy_is_plausible():
    sim = make_simulator("fridge", 11)
    temps = [sim.read("temperature", T0 + i * 300) for i in range(7 * 288)]
    assert 1.0 < min(temps) and max(temps) < 9.0
    assert 2.5 < statistics.mean(temps) < 6.0
    kwh = sim.read("energyToday", T0 + DAY - 1)
    assert 0.3 < kwh < 2.5  # a fridge uses roughly 0.5-1.5 kWh a day


def test_washer_cycles_use_water_and_energy_and_finish():
    sim = make_simulator("washer", 2)
    evs = sim.events(T0, T0 + 28 * DAY)
    started = [e for e in evs if e["event"] == "cycleStarted"]
    finished = [e for e in evs if e["event"] == "cycleFinished"]
    assert len(started) == len(finished) >= 4
    day = int((started[0]["t"] + 0) // DAY) * DAY
    assert sim.read("waterToday", day + DAY - 1) > 25
    assert sim.read("cyclesToday", day + DAY - 1) >= 1
    mid = (started[0]["t"] + finished[0]["t"]) / 2
    assert sim.read("state", mid) in ("washing", "rinsing", "spinning")
    assert sim.read("state", finished[0]["t"] + 60) == "idle"


def test_thermostat_room_follows_the_set_point():
    sim = make_simulator("thermostat", 8)
    ev = sim.events(T0, T0 + DAY, "setpointChanged")
    i, up = next((i, e) for i, e in enumerate(ev) if e["data"]["target"] > sim.setback)
    later = min(up["t"] + 3 * 3600, ev[i + 1]["t"] - 60)  # before the next set-back
    assert later - up["t"] > 3600
    assert sim.read("roomTemperature", later) > sim.read("roomTemperature", up["t"] - 60) + 1
    assert abs(sim.read("roomTemperature", later) - up["data"]["target"]) < 1.0


def test_timezone_shifts_the_daily_pattern():
    utc, east = make_simulator("tv", 9, 0), make_simulator("tv", 9, 8)
    assert _hourly_share(utc, "on", bool, 7) != _hourly_share(east, "on", bool, 7)


@pytest.mark.parametrize(("kind", "prop"), [("toaster", None), ("fridge", "colour")])
def test_unknown_names_are_refused(kind, prop):
    if prop is None:
        with pytest.raises(UnknownApplianceError, match="known: fridge"):
            make_simulator(kind)
    else:
        with pytest.raises(UnknownPropertyError, match="no property 'colour'"):
            make_simulator(kind).read(prop, T0)
