"""Spam control that new keys cannot bypass: proof of work that adapts to load.

The per-issuer token bucket is per key, and keys are free. So API submissions also pay in
proof of work: the difficulty a node asks for is its base difficulty plus one bit per
doubling of the submission rate above a free rate — over all senders (the node's load,
``free_rate``) and, separately, from the sender's network address (its rate whatever keys it
signs with, ``free_rate_per_sender``): the larger of the two extras, at most ``max_extra`` bits
more. A flood from many keys makes every further transaction cost twice as many hashes per
doubling; an honest sender at a low rate from another address pays only the load part.
Rates are exponentially decaying counts (time constant ``tau_s``), so the difficulty falls
back as the flood stops. Pure logic: the caller passes the clock.
"""

from __future__ import annotations

import math
import threading


class DecayingRate:
    """Events per second per key, decaying with time constant ``tau_s`` (bounded key count)."""

    def __init__(self, tau_s: float, max_keys: int = 100_000):
        self.tau_s = tau_s
        self.max_keys = max_keys
        self._v: dict[object, tuple[float, float]] = {}  # key -> (decayed count, at)

    def _decayed(self, key, now: float) -> float:
        v, at = self._v.get(key, (0.0, now))
        return v * math.exp(-(now - at) / self.tau_s) if now > at else v

    def add(self, key, now: float, n: int = 1) -> None:
        if key not in self._v and len(self._v) >= self.max_keys:
            self._v = {k: (c, a) for k, (c, a) in self._v.items() if self._decayed(k, now) >= 0.5}
            if len(self._v) >= self.max_keys:  # all busy: forget the quietest half
                keep = sorted(self._v, key=lambda k: self._decayed(k, now))[len(self._v) // 2:]
                self._v = {k: self._v[k] for k in keep}
        self._v[key] = (self._decayed(key, now) + n, now)

    def rate(self, key, now: float) -> float:
        return self._decayed(key, now) / self.tau_s


class AdaptivePow:
    """The proof-of-work difficulty to ask of a sender, from the node's and the sender's rate."""

    TOTAL = object()

    def __init__(self, base: int, free_rate: float, free_rate_per_sender: float, max_extra: int = 8,
                 tau_s: float = 5.0):
        self.base = base
        self.free_rate = free_rate
        self.free_rate_per_sender = free_rate_per_sender
        self.max_extra = max_extra
        self.rates = DecayingRate(tau_s)
        self._lock = threading.Lock()

    def _extra(self, rate: float, free: float) -> int:
        if free <= 0 or rate <= free:
            return 0
        return min(self.max_extra, math.ceil(math.log2(rate / free)))

    def required(self, sender: str | None, now: float) -> int:
        with self._lock:
            extra = self._extra(self.rates.rate(self.TOTAL, now), self.free_rate)
            if sender is not None:
                extra = max(extra, self._extra(self.rates.rate(sender, now), self.free_rate_per_sender))
        return self.base + extra

    def record(self, sender: str | None, now: float, n: int = 1) -> None:
        """Count ``n`` accepted submissions from ``sender``."""
        with self._lock:
            self.rates.add(self.TOTAL, now, n)
            if sender is not None:
                self.rates.add(sender, now, n)
