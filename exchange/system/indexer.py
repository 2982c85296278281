"""The catalog indexer as a long-running service: follow the chain, apply registry and rating events.

``python -m exchange.system.indexer --rpc URL --deployments-dir DIR --db URL`` (started by ``thingbid up``).
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from pathlib import Path

from exchange.errors import ExchangeError

log = logging.getLogger("thingbid.indexer")
MAX_BACKOFF_S = 30.0


def follow(rpc_url: str, deployments_dir: Path, database_url: str, interval: float = 0.5,
           confirmations: int = 0, stop: threading.Event | None = None) -> None:
    from exchange.catalog.indexer import Indexer
    from exchange.chain.connect import rpc_chain
    from exchange.chain.deploy import load_manifest

    stop = stop or threading.Event()
    chain = rpc_chain(rpc_url)
    manifest = load_manifest(chain, deployments_dir)
    if manifest is None:
        raise ExchangeError(f"no deployment manifest for chain {chain.chain_id} in {deployments_dir}")
    contracts = manifest["contracts"]
    indexer = Indexer(chain, contracts["DeviceRegistry"]["address"], database_url,
                      auction_house=contracts.get("AuctionHouse", {}).get("address"), confirmations=confirmations)
    failures = 0
    try:
        while not stop.is_set():
            try:
                res = indexer.sync()
                failures = 0
                if res.events:
                    log.info("indexed blocks %d..%d: %d events, %d applied", res.from_block, res.to_block, res.events, res.applied)
            except ExchangeError as exc:
                failures += 1
                log.warning("sync failed, retrying: %s", exc)
            except Exception:  # noqa: BLE001 - a database or decoding error must not end the indexer
                failures += 1
                log.exception("sync failed unexpectedly (%d in a row), retrying", failures)
            # A pass that keeps failing is retried further apart (up to MAX_BACKOFF_S), not in a tight loop.
            stop.wait(min(interval * 2 ** failures, max(interval, MAX_BACKOFF_S)))
    finally:
        indexer.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m exchange.system.indexer")
    p.add_argument("--rpc", required=True)
    p.add_argument("--deployments-dir", type=Path, required=True)
    p.add_argument("--db", required=True)
    p.add_argument("--interval", type=float, default=0.5)
    p.add_argument("--confirmations", type=int, default=0)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from exchange.system.signals import SignalStop

    stop = SignalStop().event
    try:
        follow(args.rpc, args.deployments_dir, args.db, args.interval, args.confirmations, stop)
    except ExchangeError as exc:
        print(f"indexer: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
