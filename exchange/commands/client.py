"""The data scientist's CLI over ``exchange.client.Exchange`` (issue 17):

    thingbid search  [filters] [--json|--csv FILE]            devices matching the filters
    thingbid bid     [filters | --device ID ...] --max-price ETH --budget ETH [--yes]
                                                              plan, cost (bids + gas), confirm, progress
    thingbid keys    [--wait [--timeout S]] [--json] [--tokens]   keys delivered to the account
    thingbid data export --format csv|parquet|jsonl --out FILE [--device ID ...] [--start T] [--end T]

Connection: --rpc, --keystore (password: --password-file or $THINGBID_KEYSTORE_PASSWORD),
--deployments-dir, --database-url, or --config FILE (``thingbid up`` writes ``client.toml`` in
its state dir). Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

FORMATS = ("csv", "parquet", "jsonl")


def _connection(p) -> None:
    g = p.add_argument_group("connection")
    g.add_argument("--config", type=Path, default=None, help="settings TOML (e.g. <up state dir>/client.toml)")
    g.add_argument("--rpc", metavar="URL", default=None, help="EVM JSON-RPC endpoint (default: settings rpc_url)")
    g.add_argument("--keystore", type=Path, default=None, help="your encrypted JSON keystore (signs locally)")
    g.add_argument("--password-file", default=None, help="keystore password file (else $THINGBID_KEYSTORE_PASSWORD)")
    g.add_argument("--deployments-dir", type=Path, default=None)
    g.add_argument("--database-url", default=None, help="catalog database (default: settings)")


def _filters(p) -> None:
    g = p.add_argument_group("filters")
    g.add_argument("--text", help="words in title, description or tags")
    g.add_argument("--type", dest="device_type", help="a @type, e.g. Refrigerator")
    g.add_argument("--property", dest="properties", action="append", default=[], help="affordance name (repeatable)")
    g.add_argument("--unit", dest="units", action="append", default=[], help="unit (repeatable)")
    g.add_argument("--near", metavar="LAT,LON,KM", help="within KM of a point")
    g.add_argument("--geohash", help="geohash cell prefix")
    g.add_argument("--max-reserve", metavar="ETH", help="reserve price at most this")
    g.add_argument("--attested-only", action="store_true")
    g.add_argument("--min-rating", type=float, default=None)
    g.add_argument("--sort", default="newest")
    g.add_argument("--limit", type=int, default=1000, help="at most this many devices (default 1000)")


def register(sub) -> None:
    s = sub.add_parser("search", help="find devices in the catalog (a table, --json lines or --csv FILE)")
    _filters(s)
    _connection(s)
    s.add_argument("--json", action="store_true", help="one JSON object per device")
    s.add_argument("--csv", type=Path, default=None, help="write the devices to this CSV file")
    s.set_defaults(func=_search)

    b = sub.add_parser("bid", help="plan bids on matching devices, show the cost, confirm, place them")
    _filters(b)
    b.add_argument("--device", dest="devices", action="append", default=[], help="bid on this device id (repeatable)")
    b.add_argument("--max-price", required=True, metavar="ETH", help="at most this per device")
    b.add_argument("--budget", required=True, metavar="ETH", help="at most this in total")
    b.add_argument("--yes", action="store_true", help="place without asking")
    b.add_argument("--no-top-up", action="store_true", help="do not deposit what the bids lack")
    _connection(b)
    b.set_defaults(func=_bid)

    k = sub.add_parser("keys", help="keys delivered to your account")
    k.add_argument("--wait", action="store_true", help="first wait for your open auctions to settle and deliver")
    k.add_argument("--timeout", type=float, default=600.0, help="seconds to wait with --wait (default 600)")
    k.add_argument("--json", action="store_true", help="one JSON object per key")
    k.add_argument("--tokens", action="store_true", help="include the access tokens (secrets: keep them safe)")
    _connection(k)
    k.set_defaults(func=_keys)

    d = sub.add_parser("data", help="your devices' data")
    ds = d.add_subparsers(dest="data_cmd", metavar="ACTION", required=True)
    e = ds.add_parser("export", help="read every key's history into one file (CSV, Parquet or JSON lines)")
    e.add_argument("--format", required=True, choices=FORMATS)
    e.add_argument("--out", type=Path, required=True, help="file to write")
    e.add_argument("--device", dest="devices", action="append", default=[], help="only this device (repeatable)")
    e.add_argument("--property", dest="properties", action="append", default=None, help="only this property")
    e.add_argument("--start", default=None, help="unix s or ISO time (default: each key's start)")
    e.add_argument("--end", default=None, help="unix s or ISO time (default: now)")
    e.add_argument("--step", type=int, default=60, help="seconds per reading at most (default 60)")
    e.add_argument("--skip-unreachable", action="store_true", help="export what answers; name the others")
    _connection(e)
    e.set_defaults(func=_export)


def _open(args, need_account: bool):
    from exchange.chain.connect import read_password
    from exchange.client import ClientInputError, Exchange

    if need_account and args.keystore is None:
        raise ClientInputError("this needs your account: pass --keystore FILE")
    password = read_password(password_file=args.password_file) if args.keystore else None
    return Exchange.connect(args.rpc, args.keystore, password, deployments_dir=args.deployments_dir,
                            database_url=args.database_url, config=args.config)


def _search_kwargs(args) -> dict:
    from exchange.client import ClientInputError

    near = None
    if args.near:
        try:
            lat, lon, km = (float(x) for x in args.near.split(","))
        except ValueError:
            raise ClientInputError(f"--near: expected LAT,LON,KM, got {args.near!r}") from None
        near = (lat, lon, km)
    return dict(text=args.text, device_type=args.device_type, properties=args.properties, units=args.units,
                near=near, geohash=args.geohash, max_reserve_eth=args.max_reserve, attested_only=args.attested_only,
                min_rating=args.min_rating, sort=args.sort, limit=args.limit)


def _table(frame, columns) -> str:
    return frame[columns].to_string(index=False, max_colwidth=40) if len(frame) else "(none)"


def _search(args) -> int:
    with _open(args, need_account=False) as ex:
        devices = ex.search(**_search_kwargs(args))
    if args.csv:
        devices.to_csv(args.csv, index=False)
        print(f"{len(devices)} device(s) written to {args.csv}")
    elif args.json:
        for row in devices.to_dict(orient="records"):
            print(json.dumps(row, default=str))
    else:
        shown = devices.assign(properties=devices["properties"].map(", ".join))
        print(_table(shown, ["device_id", "title", "types", "properties", "geohash", "reserve_eth", "attested"]))
        print(f"{len(devices)} device(s)")
    return 0


def _confirm(question: str) -> bool:
    from exchange.client import ClientInputError

    if not sys.stdin.isatty():
        raise ClientInputError("not asking without a terminal: pass --yes to place the bids")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def _bid(args) -> int:
    with _open(args, need_account=True) as ex:
        devices = args.devices or ex.search(**_search_kwargs(args))
        plan = ex.plan(devices, max_price_eth=args.max_price, budget_eth=args.budget)
        if plan.count:
            print(_table(plan.to_frame(), ["device_id", "auction_id", "amount_eth", "sealed", "batch"]))
        for s in plan.view.skipped:
            print(f"skipped {s.device_id}: {s.reason}")
        print(plan.summary())
        if not plan.count:
            print("nothing to bid on")
            return 1
        if not args.yes and not _confirm(f"Place {plan.count} bid(s)?"):
            print("nothing placed")
            return 1
        outcomes = ex.place(plan, top_up=not args.no_top_up, progress=True)
    counts = outcomes["status"].value_counts().to_dict()
    for row in outcomes[outcomes["status"] != "placed"].itertuples():
        print(f"{row.status} {row.device_id} (auction {row.auction_id}): {row.reason}")
    print(", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    return 0 if counts.get("placed") else 1


def _keys(args) -> int:
    with _open(args, need_account=True) as ex:
        if args.wait:
            ex.wait_for_keys(timeout=args.timeout, progress=True)
        frame = ex.keys_frame()
        problems = dict(ex.key_problems)
    for line in problems.values():  # one line per delivered key that does not verify (not listed, not used)
        print(line, file=sys.stderr)
    if not args.tokens:
        frame = frame.drop(columns=["token"])
    if args.json:
        for row in frame.to_dict(orient="records"):
            print(json.dumps(row, default=str))
    else:
        print(_table(frame, list(frame.columns)))
        print(f"{len(frame)} key(s)")
    return 0


def _export(args) -> int:
    from exchange.client import NotFoundError
    from exchange.client.exchange import to_unix
    from exchange.client.frames import to_jsonl

    for when in (args.start, args.end):
        to_unix(when, 0)  # a bad time is refused before anything is read
    with _open(args, need_account=True) as ex:
        keys = ex.keys()
        for line in ex.key_problems.values():
            print(line, file=sys.stderr)
        if args.devices:
            wanted = {d.lower() for d in args.devices}
            keys = [k for k in keys if k.device_id in wanted]
            missing = wanted - {k.device_id for k in keys}
            if missing:
                raise NotFoundError(f"no key for device {sorted(missing)[0]}")
        if not keys:
            raise NotFoundError("this account holds no key yet (thingbid keys --wait)")
        frame = ex.read(keys, args.start, args.end, properties=args.properties, step=args.step,
                        on_error="skip" if args.skip_unreachable else "raise", progress=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if args.format == "csv":
        frame.to_csv(args.out, index=False)
    elif args.format == "parquet":
        frame.to_parquet(args.out, index=False)
    else:
        to_jsonl(frame, args.out)
    for device, why in frame.attrs.get("errors", {}).items():
        print(f"not exported {device}: {why}", file=sys.stderr)
    print(f"{len(frame)} reading(s) of {frame['device'].nunique()} device(s) written to {args.out}")
    return 0
