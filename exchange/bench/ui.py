"""``thingbid bench ui``: plan and place bids on N devices through the web app's own code path.

The measurement lives in ``frontend.bench`` and runs as a child process, so ``exchange``
never imports ``frontend`` (dependencies point one way).
"""

from __future__ import annotations

NAME = "ui"
HELP = ("seconds to plan and place bids on N devices through the frontend (anvil); wallet sign-in and"
        " N wallet-signed bids in Chromium")


def add_arguments(parser) -> None:
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=1, help="fresh worlds measured (median reported)")
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium rows (signin, browser_1000_bids)")


def run(args):
    import json
    import subprocess
    import sys

    from exchange.config import REPO_ROOT
    from exchange.errors import ExchangeError

    cmd = [sys.executable, "-m", "frontend.bench", "--devices", str(args.devices), "--repeat", str(args.repeat)]
    if getattr(args, "no_browser", False):
        cmd.append("--no-browser")
    res = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
    if res.returncode != 0:
        raise ExchangeError(f"bench ui failed: {res.stderr.strip().splitlines()[-1] if res.stderr.strip() else res.returncode}")
    for line in res.stdout.splitlines():
        if line.startswith("{"):
            yield json.loads(line)
