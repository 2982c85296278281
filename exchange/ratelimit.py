"""The one rate limiter: token buckets per key, thread-safe, bounded in memory.

Every key (a client address, an access key, a transaction issuer, a peer, a user name) has a
bucket of ``burst`` tokens that refills at ``rate_per_s``; a request takes a token or learns how
long to wait. ``RateLimiter.per_window(limit, window_s)`` says the same as "``limit`` per
``window_s``": ``limit`` at once, then the window's share as it passes.

Memory is bounded by ``max_keys``. A key not held starts with a full bucket, so forgetting a key
whose bucket has refilled loses nothing; when the limiter is full of keys that still refill, it
keeps the emptiest half — the limited keys — and forgets the rest. A flood of fresh keys (each of
which starts full anyway) therefore cannot buy a limited key a fresh bucket. Pure logic: the clock
is injectable (``time.monotonic`` by default).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from exchange.errors import ConfigError


class RateLimiter:
    """Token buckets per key: ``burst`` tokens each, refilled at ``rate_per_s``."""

    def __init__(self, rate_per_s: float, burst: float, *, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic):
        if not rate_per_s > 0 or not burst >= 1 or max_keys < 1:
            raise ConfigError(f"rate limit: rate_per_s must be > 0, burst >= 1 and max_keys >= 1 "
                             f"(got {rate_per_s}, {burst}, {max_keys})")
        self.rate = float(rate_per_s)
        self.burst = float(burst)
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: dict[object, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    @classmethod
    def per_window(cls, limit: int, window_s: float, **kwargs) -> RateLimiter:
        """At most ``limit`` at once, refilled at ``limit`` per ``window_s``."""
        if not window_s > 0:
            raise ConfigError(f"rate limit: window_s must be > 0 (got {window_s})")
        return cls(limit / window_s, limit, **kwargs)

    def take(self, key) -> float:
        """Take one of ``key``'s tokens: 0.0 when taken, else the seconds until one is there (none taken)."""
        with self._lock:
            now = self.clock()
            tokens = self._tokens(key, now)
            if tokens < 1:
                return (1 - tokens) / self.rate
            self._store(key, tokens - 1, now)
            return 0.0

    def blocked(self, *keys) -> float:
        """Seconds until every one of ``keys`` has a token (0.0: none is limited); takes nothing."""
        with self._lock:
            now = self.clock()
            return max(((1 - t) / self.rate for t in (self._tokens(k, now) for k in keys) if t < 1), default=0.0)

    def charge(self, *keys) -> None:
        """Take a token from each key, or empty its bucket: counts what has happened anyway (a failed sign-in)."""
        with self._lock:
            now = self.clock()
            for k in keys:
                self._store(k, max(0.0, self._tokens(k, now) - 1), now)

    def reset(self, *keys) -> None:
        """Give ``keys`` full buckets again (a successful sign-in)."""
        with self._lock:
            for k in keys:
                self._buckets.pop(k, None)

    def __len__(self) -> int:
        """Keys held (at most ``max_keys``)."""
        return len(self._buckets)

    def _tokens(self, key, now: float) -> float:
        held = self._buckets.get(key)
        if held is None:
            return self.burst
        tokens, at = held
        return min(self.burst, tokens + max(0.0, now - at) * self.rate)

    def _store(self, key, tokens: float, now: float) -> None:
        if key not in self._buckets and len(self._buckets) >= self.max_keys:
            self._evict(now)
        self._buckets[key] = (tokens, now)

    def _evict(self, now: float) -> None:
        """Forget refilled buckets, and keep at most the emptiest half: the next max_keys / 2 new keys
        cost nothing, so a flood of keys pays O(log n) per key, not a scan each."""
        levels = {k: self._tokens(k, now) for k in self._buckets}
        still = [k for k, t in levels.items() if t < self.burst]
        if len(still) > self.max_keys // 2:
            still = sorted(still, key=levels.__getitem__)[:self.max_keys // 2]
        self._buckets = {k: self._buckets[k] for k in still}
