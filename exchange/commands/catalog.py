"""``thingbid catalog sync|rebuild|query|device``: the chain-built device catalog."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("catalog", help="index registry events into the catalog, rebuild it, query it")
    s = p.add_subparsers(dest="action", required=True)
    for name, help_ in (("sync", "index new registry events (resumes from the stored cursor)"),
                        ("rebuild", "drop the catalog and index everything again from the chain")):
        c = s.add_parser(name, help=help_)
        c.add_argument("--rpc", metavar="URL", help="EVM JSON-RPC endpoint (default: settings rpc_url)")
        c.add_argument("--registry", help="DeviceRegistry address (default: from the deployment manifest)")
        c.add_argument("--auction-house", help="AuctionHouse address, to index DeviceRated (default: manifest)")
        c.add_argument("--database-url", help="catalog database (default: settings, else SQLite in the state dir)")
        c.add_argument("--confirmations", type=int, default=None, help="blocks to stay behind the head")
        c.add_argument("--start-block", type=int, default=0)
        c.set_defaults(func=_sync if name == "sync" else _rebuild)
    q = s.add_parser("query", help="search the catalog; one JSON object per device, then a summary line")
    q.add_argument("--database-url")
    q.add_argument("--type", dest="device_type")
    q.add_argument("--property", dest="properties", action="append", default=[])
    q.add_argument("--unit", dest="units", action="append", default=[])
    q.add_argument("--text")
    q.add_argument("--geohash", dest="geohash_prefix")
    q.add_argument("--near", metavar="LAT,LON,KM", help="radius filter, e.g. 52.52,13.40,25")
    q.add_argument("--reserve-min", type=int)
    q.add_argument("--reserve-max", type=int)
    q.add_argument("--attested-only", action="store_true")
    q.add_argument("--min-reputation", type=float)
    q.add_argument("--include-inactive", action="store_true")
    q.add_argument("--sort", default="newest")
    q.add_argument("--page", type=int, default=1)
    q.add_argument("--per-page", type=int, default=20)
    q.set_defaults(func=_query)
    d = s.add_parser("device", help="one device with its TD, affordances and reputation (JSON)")
    d.add_argument("device_id")
    d.add_argument("--database-url")
    d.set_defaults(func=_device)


def _db_url(args) -> str:
    from exchange.config import load_settings

    settings = load_settings()
    return args.database_url or settings.database_url or settings.sqlite_url("catalog")


def _indexer(args):
    from exchange.catalog.indexer import Indexer
    from exchange.chain.connect import rpc_chain
    from exchange.chain.deploy import load_manifest
    from exchange.config import load_settings
    from exchange.errors import DeploymentError

    settings = load_settings()
    chain = rpc_chain(args.rpc or settings.rpc_url)
    registry, house = args.registry, args.auction_house
    if not registry or not house:
        manifest = load_manifest(chain, settings.deployments_dir) or {"contracts": {}}
        registry = registry or manifest["contracts"].get("DeviceRegistry", {}).get("address")
        house = house or manifest["contracts"].get("AuctionHouse", {}).get("address")
    if not registry:
        raise DeploymentError(f"no DeviceRegistry for chain {chain.chain_id}: pass --registry or run thingbid deploy")
    conf = settings.confirmations if args.confirmations is None else args.confirmations
    return Indexer(chain, registry, _db_url(args), auction_house=house, confirmations=conf,
                   start_block=args.start_block)


def _report(r) -> None:
    print(f"blocks {r.from_block}..{r.to_block}: {r.events} events read, {r.applied} applied")


def _sync(args) -> int:
    ix = _indexer(args)
    _report(ix.sync())
    return 0


def _rebuild(args) -> int:
    ix = _indexer(args)
    _report(ix.rebuild())
    return 0


def _query(args) -> int:
    from exchange.catalog import Catalog, CatalogFilter
    from exchange.catalog.schemas import CatalogQueryError

    raw = {k: getattr(args, k) for k in ("device_type", "properties", "units", "text", "geohash_prefix",
                                          "reserve_min", "reserve_max", "min_reputation", "sort", "page", "per_page")}
    raw = {k: v for k, v in raw.items() if v not in (None, [])}
    raw["attested_only"] = args.attested_only
    raw["active_only"] = not args.include_inactive
    if args.near:
        try:
            raw["lat"], raw["lon"], raw["radius_km"] = (float(x) for x in args.near.split(","))
        except ValueError:
            raise CatalogQueryError([f"near: expected LAT,LON,KM, got {args.near!r}"]) from None
    page = Catalog(_db_url(args)).search(CatalogFilter.parse(raw))
    for item in page.items:
        print(item.model_dump_json())
    print(json.dumps({"total": page.total, "total_exact": page.total_exact, "page": page.page,
                      "per_page": page.per_page}))
    return 0


def _device(args) -> int:
    from exchange.catalog import Catalog
    from exchange.catalog.indexer import IndexerError

    d = Catalog(_db_url(args)).device(args.device_id)
    if d is None:
        raise IndexerError(f"device {args.device_id} is not in the catalog")
    print(d.model_dump_json(indent=2))
    return 0
