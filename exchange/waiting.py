"""``poll_until``: the one way this project waits for something it cannot be told about.

Nodes, chains and child processes answer questions but do not call back, so waiting means asking
again. Every such loop had its own deadline arithmetic; this is the shared one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll_until(check: Callable[[], T], *, timeout: float, interval: float = 0.05,
               on_timeout: Callable[[], BaseException]) -> T:
    """Call ``check`` until it returns something truthy and return that; after ``timeout`` seconds
    raise ``on_timeout()``. An exception from ``check`` (a rejection, a dead process) ends the wait."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise on_timeout()
        time.sleep(interval)
