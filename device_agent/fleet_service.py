"""A fleet of simulated appliances as one service (started by ``thingbid up``).

``python -m device_agent.fleet_service --state-dir DIR --agents 8 --rpc URL --deployments-dir D
--tangle-url T [--oem-key-file K]``; the agents' key-file password comes from $THINGBID_AGENT_PASSWORD
(never argv). With ``--oem-key-file`` (an encrypted OEM keystore, its password in $THINGBID_OEM_PASSWORD)
every other new device is OEM-attested at check-in. When every agent is serving (and checked in),
``DIR/fleet.json`` lists them (``oem_attested``: configured with the OEM key).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m device_agent.fleet_service")
    p.add_argument("--state-dir", type=Path, required=True)
    p.add_argument("--agents", type=int, default=8)
    p.add_argument("--rpc", required=True)
    p.add_argument("--deployments-dir", type=Path, required=True)
    p.add_argument("--tangle-url", default=None)
    p.add_argument("--bidding-seconds", type=int, default=3600)
    p.add_argument("--oem-key-file", type=Path, default=None,
                   help="OEM keystore that attests every other new device at check-in")
    p.add_argument("--sample-seconds", type=int, default=None,
                   help="demo: the simulated appliances record a reading this often (default 60) and sell in "
                        "English auctions only (a sealed one waits a day for its reveals)")
    p.add_argument("--relay", action="append", default=[], metavar="URL",
                   help="a relay every new agent dials out to; its TD then points there (repeatable)")
    p.add_argument("--source", action="append", default=[],
                   help="one more agent selling a real source: wot:URL or mqtt:URL#TOPIC (repeatable)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    password = os.environ.get("THINGBID_AGENT_PASSWORD")
    if not password:
        print("fleet: error: THINGBID_AGENT_PASSWORD is not set", file=sys.stderr)
        return 2
    from device_agent.runner import simulated_fleet
    from exchange.chain.connect import rpc_chain
    from exchange.chain.deploy import load_manifest
    from exchange.errors import ExchangeError
    from exchange.system.signals import SignalStop

    stop = SignalStop().event
    try:
        from device_agent.sources import resolve_spec

        # nosec upstreams; a login would come from $THINGBID_SOURCE_* like `device-agent init`.
        sources = [resolve_spec(spec) for spec in args.source]
        chain = rpc_chain(args.rpc)
        manifest = load_manifest(chain, args.deployments_dir)
        runners = simulated_fleet(args.state_dir, args.agents, password, chain=chain, manifest=manifest,
                                  deployments_dir=args.deployments_dir, tangle_url=args.tangle_url,
                                  bidding_seconds=args.bidding_seconds, oem_key_file=args.oem_key_file, sources=sources,
                                  **({"relay_urls": args.relay} if args.relay else {}),
                                  **({"source": {"kind": "simulator", "sample_seconds": args.sample_seconds},
                                      "mechanism": "english"} if args.sample_seconds else {}))
        _wait_for_relays(runners)
    except ExchangeError as exc:
        print(f"fleet: error: {exc}", file=sys.stderr)
        return 1
    listing = [{"device_id": r.agent.identity.device_id_hex, "appliance": r.agent.config.appliance,
                "source": r.agent.source.KIND, "data_dir": str(r.agent.data_dir), "url": r.url,
                "td_base": r.agent.base_url,
                "address": r.agent.address, "oem_attested": bool(r.agent.config.oem_key_file)} for r in runners]
    tmp = args.state_dir / "fleet.json.tmp"
    tmp.write_text(json.dumps(listing, indent=1))
    tmp.replace(args.state_dir / "fleet.json")
    print(f"fleet: {len(runners)} agents serving", flush=True)
    stop.wait()
    for r in runners:
        r.stop()
    return 0


def _wait_for_relays(runners, timeout_s: float = 60.0) -> None:
    """Listed means reachable: every agent's relay links are up before fleet.json is written."""
    from device_agent.errors import AgentError  # imported late like the rest of this entry point

    deadline = time.monotonic() + timeout_s
    for r in runners:
        for link in r.relay_connector.links if r.relay_connector else []:
            if not link.connected.wait(max(0.0, deadline - time.monotonic())):
                raise AgentError(f"agent {r.agent.identity.device_id_hex[:12]} could not connect to the relay "
                                 f"{link.relay_url}: {link.last_refusal or 'no answer'}")


if __name__ == "__main__":
    sys.exit(main())
