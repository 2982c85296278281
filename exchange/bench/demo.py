"""``thingbid bench demo``: a newcomer's time to first key, headless.

Starts ``thingbid up --demo`` (fresh state, free ports) and, from the moment it prints its
URL, does what docs/client.md shows with the client library: search, plan and place a bid
on one device, wait for settlement and the key, and read until the key's first reading
arrives. Reports the seconds from ``up`` ready to that first reading (goal < 180).
"""

from __future__ import annotations

NAME = "demo"
HELP = "seconds from `thingbid up --demo` ready to the first reading of a bought key (headless)"


def add_arguments(parser) -> None:
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds")


def run(args):
    import os
    import re
    import signal
    import subprocess
    import sys
    import tempfile
    import time
    from pathlib import Path

    from exchange.client import Exchange
    from exchange.config import REPO_ROOT
    from exchange.errors import ExchangeError

    with tempfile.TemporaryDirectory(prefix="thingbid-demo-") as tmp:
        state = Path(tmp) / "state"
        proc = subprocess.Popen([sys.executable, "-m", "exchange.cli", "--log-level", "WARNING", "up", "--demo",
                                 "--agents", str(args.agents), "--state-dir", str(state), "--port", "0",
                                 "--web-port", "0", "--tangle-port", "0"],
                                cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
        deadline = time.monotonic() + args.timeout
        try:
            password, lines = None, []
            for line in proc.stdout:
                lines.append(line)
                found = re.search(r"sign in as\s+demo\s+with password\s+(\S+)", line)
                if found:
                    password = found.group(1)
                    break
                if time.monotonic() > deadline:
                    break
            if password is None:
                raise ExchangeError("bench demo: `thingbid up --demo` did not become ready: "
                                    + "".join(lines[-5:]).strip()[-300:])
            ready = time.monotonic()
            with Exchange.connect(keystore=state / "keystores" / "demo.json", password=password,
                                  config=state / "client.toml") as ex:
                first = None
                while first is None and time.monotonic() < deadline:
                    devices = ex.search(limit=args.agents)
                    plan = ex.plan(devices.head(1), max_price_eth=0.01, budget_eth=0.01)
                    if plan.count:
                        ex.place(plan, progress=False)
                        keys = ex.wait_for_keys(plan, timeout=max(1.0, deadline - time.monotonic()), progress=False)
                        while keys and time.monotonic() < deadline:
                            frame = ex.read(keys, step=1, progress=False)
                            if len(frame):
                                first = time.monotonic() - ready
                                break
                            time.sleep(1)
                    else:
                        time.sleep(2)  # between auctions, or not yet indexed
                if first is None:
                    raise ExchangeError(f"bench demo: no reading from a bought key within {args.timeout:g} s")
        finally:
            try:
                os.killpg(proc.pid, signal.SIGINT)
                proc.wait(timeout=60)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    yield {"time_to_first_key_s": round(first, 1), "agents": args.agents}
