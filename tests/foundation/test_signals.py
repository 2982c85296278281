"""SignalStop: SIGINT/SIGTERM become a threading.Event without a lock in the handler."""

import os
import signal
import subprocess
import sys
import threading

from exchange.system.signals import SignalStop


def test_a_signal_sets_the_event_and_restore_puts_the_old_handler_back():
    seen = []
    old = signal.signal(signal.SIGUSR1, lambda *_: seen.append("old"))
    try:
        stop = SignalStop(signals=(signal.SIGUSR1,))
        assert not stop.event.wait(0.2)
        os.kill(os.getpid(), signal.SIGUSR1)
        assert stop.event.wait(5) and stop.received == [signal.SIGUSR1]
        stop.restore()
        os.kill(os.getpid(), signal.SIGUSR1)
        assert seen == ["old"]
    finally:
        signal.signal(signal.SIGUSR1, old)


def test_restore_without_a_signal_leaves_the_event_unset():
    stop = SignalStop(signals=(signal.SIGUSR2,))
    stop.restore()
    assert not stop.event.is_set() and not stop._watcher.is_alive()


CHILD = """
import sys, threading
from exchange.system.signals import SignalStop
stop = SignalStop().event
print("ready", flush=True)
while not stop.wait():  # the main thread inside Event.wait() when the signal lands, as in the CLIs
    pass
print("stopped", flush=True)
"""


def test_a_process_waiting_on_the_event_stops_on_every_sigterm_at_once():
    # Many signals right after start-up, while the main thread is entering or inside wait():
    # the window in which a handler calling Event.set() could deadlock.
    procs = [subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True) for _ in range(8)]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready"
        threads = [threading.Thread(target=lambda p=p: [p.send_signal(signal.SIGTERM) for _ in range(20)])
                   for p in procs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for p in procs:
            assert p.wait(timeout=15) == 0
            assert p.stdout.read().strip() == "stopped"
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
