"""exchange.ratelimit: the one rate limiter, against a plain model of what a token bucket allows.

The model says it the way the docs do: a key is allowed a request at time t exactly when, for every
request it was allowed before (at t_i), the allowed requests from t_i to t, this one included, are at
most ``burst + rate * (t - t_i)``. Rates are powers of two and times multiples of 1/4, so the
limiter's floats are exact and the comparison needs no tolerance.
"""

from __future__ import annotations

import sys
import threading
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.errors import ConfigError
from exchange.ratelimit import RateLimiter


class Clock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


class WindowModel:
    """Allowed times per key; a request is allowed when no span from an allowed one holds too many."""

    def __init__(self, rate: Fraction, burst: int):
        self.rate, self.burst = rate, burst
        self.allowed: dict[str, list[Fraction]] = {}

    def wait(self, key: str, now: Fraction) -> Fraction:
        times = self.allowed.get(key, [])
        need = [(len(times) - i + 1 - self.burst) / self.rate - (now - t) for i, t in enumerate(times)]
        return max([Fraction(0), *need])

    def take(self, key: str, now: Fraction) -> Fraction:
        wait = self.wait(key, now)
        if wait == 0:
            self.allowed.setdefault(key, []).append(now)
        return wait


KEYS = st.sampled_from(["a", "b", "c"])
STEPS = st.lists(st.tuples(st.integers(0, 12), KEYS), min_size=1, max_size=60)  # (quarter seconds later, key)


@settings(max_examples=200, deadline=None)
@given(rate_exp=st.integers(-2, 2), burst=st.integers(1, 5), steps=STEPS)
def test_take_allows_exactly_what_the_window_model_allows_and_says_how_long_to_wait(rate_exp, burst, steps):
    rate = Fraction(2) ** rate_exp
    clock = Clock()
    limiter = RateLimiter(float(rate), burst, clock=clock)
    model = WindowModel(rate, burst)
    now = Fraction(1000)
    for quarters, key in steps:
        now += Fraction(quarters, 4)
        clock.t = float(now)
        assert limiter.blocked(key) == model.wait(key, now)  # asking takes nothing ...
        assert limiter.take(key) == model.take(key, now)  # ... and taking answers the same wait


@settings(max_examples=100, deadline=None)
@given(max_keys=st.integers(1, 12), burst=st.integers(1, 4),
       steps=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 60), st.sampled_from(["take", "charge", "reset"])),
                      max_size=300))
def test_the_keys_held_never_exceed_max_keys(max_keys, burst, steps):
    clock = Clock()
    limiter = RateLimiter(1.0, burst, max_keys=max_keys, clock=clock)
    for dt, key, op in steps:
        clock.t += dt / 4
        getattr(limiter, op)(key)
        assert len(limiter) <= max_keys


@settings(max_examples=100, deadline=None)
@given(max_keys=st.integers(2, 12), burst=st.integers(2, 5), flood=st.integers(1, 200))
def test_a_flood_of_fresh_keys_does_not_free_a_limited_key(max_keys, burst, flood):
    limiter = RateLimiter(0.001, burst, max_keys=max_keys, clock=Clock())
    assert [limiter.take("limited") == 0 for _ in range(burst + 1)] == [True] * burst + [False]
    for i in range(flood):  # an attacker cycling keys: each fresh key spends one of its tokens
        assert limiter.take(f"fresh{i}") == 0
    assert limiter.take("limited") > 0


def test_a_forgotten_key_was_one_whose_bucket_had_refilled():
    clock = Clock()
    limiter = RateLimiter(1.0, 2, max_keys=2, clock=clock)
    limiter.take("old")
    clock.t += 5  # "old" has refilled: forgetting it changes nothing
    limiter.take("busy")
    limiter.take("new")
    assert len(limiter) == 2 and [limiter.take("old"), limiter.take("old"), limiter.take("old")] == [0, 0, 1]


def test_charge_counts_failures_down_to_an_empty_bucket_and_reset_forgives_them():
    clock = Clock()
    limiter = RateLimiter.per_window(3, 60.0, clock=clock)
    for _ in range(3):
        assert limiter.blocked("ip:1", "user:x") == 0
        limiter.charge("ip:1", "user:x")
    assert limiter.blocked("ip:1") == 20.0 and limiter.blocked("user:x") == 20.0
    for _ in range(10):  # more failures (requests that raced the check) do not dig a deeper hole
        limiter.charge("ip:1")
    assert limiter.blocked("ip:1") == 20.0
    assert limiter.blocked("ip:2", "ip:1") == 20.0  # the longest wait of the keys asked
    limiter.reset("user:x")
    assert limiter.blocked("user:x") == 0 and limiter.blocked("ip:1") == 20.0
    clock.t += 20
    assert limiter.blocked("ip:1") == 0


def test_per_window_allows_the_limit_at_once_then_one_per_share_of_the_window():
    clock = Clock()
    limiter = RateLimiter.per_window(5, 60.0, clock=clock)
    assert [limiter.take("k") for _ in range(6)] == [0, 0, 0, 0, 0, 12.0]
    clock.t += 11.75
    assert limiter.take("k") == pytest.approx(0.25)
    clock.t += 0.25
    assert limiter.take("k") == 0 and limiter.take("k") == 12.0


def test_concurrent_takes_on_one_key_allow_exactly_the_burst():
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can: races show up
    limiter = RateLimiter(1e-9, 40_000, clock=Clock())  # the clock stands still: no refill
    allowed = []
    start = threading.Barrier(8)

    def worker():
        start.wait()
        allowed.append(sum(limiter.take("shared") == 0 for _ in range(10_000)))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert sum(allowed) == 40_000


def test_a_clock_that_steps_back_refills_nothing():
    clock = Clock()
    limiter = RateLimiter(1.0, 1, clock=clock)
    limiter.take("k")
    clock.t -= 100
    assert limiter.take("k") == 1.0


@pytest.mark.parametrize("rate, burst, max_keys", [
    (0, 1, 10), (-1, 1, 10), (float("nan"), 1, 10), (1, 0, 10), (1, 0.5, 10), (1, float("nan"), 10), (1, 1, 0),
])
def test_bad_settings_are_refused(rate, burst, max_keys):
    with pytest.raises(ConfigError, match="rate limit"):
        RateLimiter(rate, burst, max_keys=max_keys)


@pytest.mark.parametrize("window", [0, -5, float("nan")])
def test_a_window_that_is_not_positive_is_refused(window):
    with pytest.raises(ConfigError, match="window_s"):
        RateLimiter.per_window(5, window)
