"""A stop flag for SIGINT/SIGTERM that takes no lock inside the signal handler.

Python runs signal handlers in the main thread between bytecodes. A handler that calls
``threading.Event.set()`` deadlocks when the main thread was interrupted while holding that
event's (non-reentrant) lock, for example on its way into ``Event.wait()``: a CI run hung
that way (``device-agent run`` ignored SIGTERM for good). Here the handler only appends to
a list (atomic, lock-free) and a small watcher thread turns that into an ordinary
``threading.Event``, which the main thread and workers can wait on as before.
"""

from __future__ import annotations

import signal
import threading
import time

__all__ = ["SignalStop"]


class SignalStop:
    """``SignalStop().event`` is set once one of ``signals`` arrives (or ``event.set()`` is called)."""

    def __init__(self, signals=(signal.SIGINT, signal.SIGTERM), poll_s: float = 0.05):
        self.event = threading.Event()
        self._hits: list[int] = []
        self._closed = False
        self._previous = {sig: signal.signal(sig, self._on_signal) for sig in signals}
        self._watcher = threading.Thread(target=self._watch, args=(poll_s,), name="signal-stop", daemon=True)
        self._watcher.start()

    def _on_signal(self, signum, _frame) -> None:
        self._hits.append(signum)  # no lock here: see the module docstring

    def _watch(self, poll_s: float) -> None:
        while not self._hits and not self._closed and not self.event.is_set():
            time.sleep(poll_s)
        if self._hits:
            self.event.set()

    @property
    def received(self) -> list[int]:
        return list(self._hits)

    def restore(self) -> None:
        """Put the previous handlers back and end the watcher."""
        self._closed = True
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._watcher.join(timeout=1)
