"""``thingbid bench sdk``: the client library reads 100 keys' 30 days (one reading a minute)
into one DataFrame.

The devices (the agent's own WoT server and key checks, ``device_agent.sdk_bench``) run in a
child process; this process times the client's own code path from the keys to the frame:
``exchange.client.reader.read_many`` (each device's history action paged in 5,000-bucket
windows, 8 devices in parallel) and ``frames.readings_frame``, which ``Exchange.read`` runs
after looking the TDs up in the catalog.
"""

from __future__ import annotations

NAME = "sdk"
HELP = "seconds for the client to read 100 keys x 30 days (1 reading/min) into one DataFrame"


def add_arguments(parser) -> None:
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--workers", type=int, default=8)


def run(args):
    import json
    import subprocess
    import sys
    import time

    from exchange.client.frames import readings_frame
    from exchange.client.reader import Key, history_forms, read_many
    from exchange.config import REPO_ROOT
    from exchange.errors import ExchangeError

    proc = subprocess.Popen([sys.executable, "-m", "device_agent.sdk_bench", "--devices", str(args.devices),
                             "--days", str(args.days)], cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline()
        if not line:
            raise ExchangeError("bench sdk: the devices did not start")
        world = json.loads(line)
        jobs = [(Key(d["auction_id"], d["device_id"], d["token"], d["not_before"], d["not_after"]),
                 history_forms(d["td"])) for d in world["devices"]]
        start = min(k.not_before for k, _ in jobs)
        end = int(time.time())
        t0 = time.perf_counter()
        frame = readings_frame(read_many(jobs, start, end, 60, workers=args.workers))
        wall = time.perf_counter() - t0
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    expected = args.devices * args.days * 1440
    if len(frame) < expected * 0.99:
        raise ExchangeError(f"bench sdk: read {len(frame)} rows, expected about {expected}")
    yield {"op": f"read_{args.devices}_keys_{args.days}d", "wall_s": round(wall, 2), "rows": len(frame),
           "rows_per_s": round(len(frame) / wall), "devices": int(frame["device"].nunique())}
