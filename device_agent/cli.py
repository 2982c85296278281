"""``device-agent``: init, enable, disable, status, revoke, run, simulate.

The password of the device's key files comes from --password-file, $THINGBID_KEYSTORE_PASSWORD
or a prompt. Deliberate errors print one line and exit 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from device_agent.config import MECHANISMS, AgentConfig
from device_agent.simulators import SIMULATORS
from exchange.errors import ExchangeError
from exchange.log import setup_logging


def _default_dir() -> Path:
    from exchange.config import load_settings

    return load_settings().state_dir / "agent"


def _password(args) -> str:
    from exchange.chain.connect import read_password

    return read_password(None, args.password_file)


def _connect(args, agent):
    from exchange.chain.connect import rpc_chain
    from exchange.chain.deploy import load_manifest
    from exchange.config import load_settings

    settings = load_settings()
    chain = rpc_chain(args.rpc or settings.rpc_url, keystore=agent.identity.eth_keystore,
                      password=agent.identity.password)
    ddir = Path(args.deployments_dir) if args.deployments_dir else settings.deployments_dir
    manifest = load_manifest(chain, ddir)
    if manifest is None:
        raise ExchangeError(f"no deployment manifest for chain {chain.chain_id} in {ddir}: pass "
                            "--deployments-dir DIR (the `deployments` dir of the system that deployed the "
                            "contracts, e.g. .thingbid/run/deployments for `thingbid up`), or deploy with `thingbid deploy`")
    agent.attach_chain(chain, manifest)
    return chain


def _agent(args):
    from device_agent.agent import DeviceAgent
    from device_agent.errors import NotInitialisedError
    from device_agent.identity import exists

    if not exists(Path(args.data_dir)):
        raise NotInitialisedError(f"no device identity in {args.data_dir}: run `device-agent init` first")
    return DeviceAgent(Path(args.data_dir), _password(args))


def _ask(prompt: str, env: str, secret: bool = False) -> str:
    """A value from ``$env``, else a terminal prompt; never a silent default."""
    import getpass
    import os

    from device_agent.errors import AgentConfigError

    if os.environ.get(env):
        return os.environ[env]
    if sys.stdin.isatty():
        return (getpass.getpass if secret else input)(prompt)
    raise AgentConfigError(f"{prompt.rstrip(': ')} missing: set ${env} (or run init in a terminal)")


def _source_from_args(args) -> tuple[dict, dict[str, str]]:
    """(config ``source`` object, credentials for the encrypted store) from --source and friends."""
    from device_agent.errors import AgentConfigError
    from device_agent.sources import parse_spec, resolve_spec

    if not args.source:
        return {}, {}
    part = parse_spec(args.source)
    if part["kind"] == "simulator":
        args.appliance = part["appliance"]
        return {}, {}
    creds: dict[str, str] = {}
    who = "upstream" if part["kind"] == "wot" else "broker"
    if args.source_auth == "basic":
        creds = {"username": _ask(f"{who} username: ", "THINGBID_SOURCE_USERNAME"),
                 "password": _ask(f"{who} password: ", "THINGBID_SOURCE_PASSWORD", secret=True)}
    elif args.source_auth == "bearer":
        creds = {"token": _ask(f"{who} bearer token: ", "THINGBID_SOURCE_TOKEN", secret=True)}
    units = {}
    for item in args.unit or []:
        name, sep, unit = item.partition("=")
        if not sep or not name or not unit:
            raise AgentConfigError(f"--unit {item!r} must be NAME=UNIT, e.g. temperature=degree Celsius")
        units[name] = unit
    if part["kind"] == "mqtt":
        print(f"device-agent: waiting for a first message on {part['topic']} to learn its fields ...", file=sys.stderr)
    source = resolve_spec(args.source, auth=args.source_auth, creds=creds, units=units, title=args.title,
                          device_type=args.device_type, discover_seconds=args.discover_seconds)
    return source, creds


def cmd_init(args) -> int:
    from device_agent.runner import init_identity
    from exchange.chain.anvil import free_port

    source, creds = _source_from_args(args)
    sell = [s for s in args.sell.split(",") if s] if args.sell else None
    # The port goes into the TD on chain: fixed now, so restarts never change (or zero) the hrefs.
    port = args.port if args.port is not None else (0 if args.public_url or args.relay else free_port())
    cfg = AgentConfig(appliance=args.appliance, seed=args.seed, lat=args.lat, lon=args.lon,
                      geohash_precision=args.precision, sell=sell, reserve_price_wei=args.reserve,
                      mechanism=args.mechanism, http_port=port, http_host=args.host,
                      public_url=args.public_url, relay_urls=list(args.relay or []), tags=[t for t in args.tags.split(",") if t],
                      stream_ledgers=[x for x in args.stream_ledgers.split(",") if x], source=source,
                      **({"stream_price_per_message": args.stream_price} if args.stream_price is not None else {}))
    cfg.validate()
    cfg.require_publishable()
    ident = init_identity(Path(args.data_dir), _password(args), cfg, credentials=creds or None)
    print(json.dumps({"data_dir": str(args.data_dir), "device_id": ident.device_id_hex, "address": ident.address,
                      "source": source.get("kind", "simulator"), "appliance": cfg.appliance,
                      "public_url": cfg.public_url or f"http://{cfg.http_host}:{cfg.http_port}",
                      "relays": cfg.relay_urls,
                      "enabled": False,
                      "fund": f"send ETH for gas to {ident.address} (a check-in costs about 130,000 gas; on a "
                              f"local chain: `thingbid fund {ident.address}`)",
                      "next": "device-agent enable (explicit opt-in), then device-agent doctor"}))
    return 0


def cmd_enable(args) -> int:
    agent = _agent(args)
    try:
        _connect(args, agent)
        print(json.dumps({k: v for k, v in agent.enable().items() if k != "td_bytes"}))
    finally:
        agent.close()
    return 0


def cmd_disable(args) -> int:
    agent = _agent(args)
    try:
        _connect(args, agent)
        print(json.dumps(agent.disable()))
    finally:
        agent.close()
    return 0


def cmd_doctor(args) -> int:
    from device_agent.doctor import diagnose, render

    agent = _agent(args)
    try:
        checks = diagnose(agent, lambda: _connect(args, agent))
        print(render(checks, args.json))
    finally:
        agent.close()
    return 0 if all(c.ok for c in checks) else 1


def cmd_status(args) -> int:
    agent = _agent(args)
    try:
        print(json.dumps(agent.status(), indent=None if args.json else 2))
    finally:
        agent.close()
    return 0


def cmd_revoke(args) -> int:
    agent = _agent(args)
    try:
        tok = agent.state.token_for_auction(args.auction)
        if tok is None:
            from device_agent.errors import AgentError

            raise AgentError(f"no access key was issued for auction {args.auction}")
        agent.state.mark_token(tok.token_id, revoked=True)
        print(json.dumps({"revoked": tok.token_id, "auction": args.auction, "buyer": tok.buyer}))
    finally:
        agent.close()
    return 0


def cmd_run(args) -> int:
    from device_agent.runner import AgentRunner
    from exchange.config import load_settings

    settings = load_settings()
    from exchange.system.signals import SignalStop

    stop = SignalStop().event
    runner = AgentRunner(Path(args.data_dir), _password(args), chain_url=None if args.no_chain else
                         (args.rpc or settings.rpc_url),
                         deployments_dir=Path(args.deployments_dir) if args.deployments_dir else None,
                         tangle_url=None if args.no_stream else (args.tangle or settings.tangle_url),
                         sell=not args.no_sell, streams=not args.no_stream)
    runner.start()
    print(json.dumps({"serving": runner.url, "td": runner.url + "/.well-known/wot",
                      "enabled": runner.agent.enabled()}), flush=True)
    try:
        stop.wait()
    finally:
        runner.stop()
    return 0


def cmd_simulate(args) -> int:
    from device_agent.simulators import make_simulator

    sim = make_simulator(args.appliance, args.seed, args.tz)
    end = args.to if args.to is not None else int(time.time())
    start = args.start if args.start is not None else end - 86_400
    names = [args.property] if args.property else list(sim.props)
    for name in names:
        sim.read(name, start)  # unknown names fail before any output
    step = args.step or max(60, (end - start) // 288)
    t = -(-start // step) * step  # aligned to the step grid, like the HTTP history
    while t <= end:
        print(json.dumps({"t": t, **{n: sim.read(n, t) for n in names}}))
        t += step
    if args.events:
        for ev in sim.events(start, end):
            print(json.dumps(ev))
    return 0


def cmd_bench(args) -> int:
    from device_agent.bench import nodewot_rows, recorder_rows, rows, stream_rows

    for row in rows(args.reads):
        print(json.dumps(row), flush=True)
    for row in recorder_rows(args.recorder_readings):
        print(json.dumps(row), flush=True)
    for row in nodewot_rows(args.nodewot_reads):
        print(json.dumps(row), flush=True)
    if args.stream_purchases:
        for row in stream_rows(args.stream_purchases):
            print(json.dumps(row), flush=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="device-agent", description="Thingbid device agent: sell your appliance's "
                                "data to key holders, only after you enable it.")
    p.add_argument("--data-dir", default=None, help="the agent's data dir (default: <state_dir>/agent)")
    p.add_argument("--password-file", default=None, help="file with the key files' password")
    p.add_argument("--log-level", default=None)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    s = sub.add_parser("init", help="create the device identity (encrypted keys) and its config")
    s.add_argument("--appliance", choices=list(SIMULATORS), default="fridge")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--lat", type=float, default=52.52)
    s.add_argument("--lon", type=float, default=13.405)
    s.add_argument("--precision", type=int, default=5, help="geohash characters published (default 5, ~5 km)")
    s.add_argument("--sell", default="", help="comma-separated properties for sale (default: all)")
    s.add_argument("--reserve", type=int, default=10**15, help="reserve price in wei")
    s.add_argument("--mechanism", choices=MECHANISMS, default="english")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=None,
                   help="HTTP port, fixed in the TD on chain (default: a free port chosen now)")
    s.add_argument("--public-url", default="", help="base URL buyers reach the agent at (goes into the TD)")
    s.add_argument("--relay", action="append", metavar="URL",
                   help="a relay (`thingbid relay`) to dial out to, for a device behind NAT; the TD then points "
                        "at the relay(s), never at this host (repeatable: several relays)")
    s.add_argument("--stream-price", type=int, default=None,
                   help="price per live stream message in the ledger's smallest unit (default 1; at least 1)")
    s.add_argument("--source", default="",
                   help="where readings come from: wot:URL (a WoT Thing), mqtt:URL#TOPIC, simulator:KIND "
                        "(default: the simulator of --appliance)")
    s.add_argument("--source-auth", choices=["nosec", "basic", "bearer"], default=None,
                   help="the upstream's login (asked for, or $THINGBID_SOURCE_USERNAME/PASSWORD/TOKEN); "
                        "kept encrypted beside the device keys")
    s.add_argument("--unit", action="append", help="MQTT: NAME=UNIT for a payload field (repeatable)")
    s.add_argument("--title", default="", help="MQTT: the device's title in its TD")
    s.add_argument("--device-type", default="", help="MQTT: the device's type in its TD (default Sensor)")
    s.add_argument("--discover-seconds", type=float, default=30.0,
                   help="MQTT: how long to wait for a first message on the topic")
    s.add_argument("--tags", default="")
    s.add_argument("--stream-ledgers", default="tangle",
                   help="comma-separated ledgers stream spans are sold on: tangle, ethereum (default: tangle)")
    s.set_defaults(func=cmd_init)

    for name, func, text in (("enable", cmd_enable, "opt in: check the device in to the registry"),
                             ("disable", cmd_disable, "opt out: check the device out")):
        s = sub.add_parser(name, help=text)
        s.add_argument("--rpc", default=None)
        s.add_argument("--deployments-dir", default=None)
        s.set_defaults(func=func)

    s = sub.add_parser("doctor", help="check chain, deployment, registry record, funds, source and public URL")
    s.add_argument("--rpc", default=None)
    s.add_argument("--deployments-dir", default=None)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_doctor)

    s = sub.add_parser("status", help="consent, registration, auctions, tokens")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_status)

    s = sub.add_parser("revoke", help="refuse the access key sold in an auction from now on")
    s.add_argument("--auction", type=int, required=True)
    s.set_defaults(func=cmd_revoke)

    s = sub.add_parser("run", help="serve the WoT API, sell in auctions and stream (until Ctrl-C)")
    s.add_argument("--rpc", default=None)
    s.add_argument("--deployments-dir", default=None)
    s.add_argument("--tangle", default=None)
    s.add_argument("--no-chain", action="store_true", help="only serve (no registry, no auctions)")
    s.add_argument("--no-sell", action="store_true")
    s.add_argument("--no-stream", action="store_true", help="sell no stream spans (on any ledger)")
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("simulate", help="print simulated readings as JSON lines (no identity needed)")
    s.add_argument("--appliance", choices=list(SIMULATORS), default="fridge")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--tz", type=float, default=0.0)
    s.add_argument("--from", dest="start", type=int, default=None)
    s.add_argument("--to", type=int, default=None)
    s.add_argument("--step", type=int, default=None)
    s.add_argument("--property", default=None)
    s.add_argument("--events", action="store_true")
    s.set_defaults(func=cmd_simulate)
    s = sub.add_parser("bench", help="check-in gas per appliance, delivery gas, HTTP read latency, node-wot "
                       "read of every property (JSON lines)")
    s.add_argument("--reads", type=int, default=300)
    s.add_argument("--recorder-readings", type=int, default=50_000,
                   help="readings written for the recorder_ingest rows (default 50,000)")
    s.add_argument("--nodewot-reads", type=int, default=50,
                   help="node-wot readAllProperties of a served fridge for the nodewot_read_all row (default 50)")
    s.add_argument("--stream-purchases", type=int, default=0,
                   help="also buy this many stream spans over Ethereum from an agent on a fresh anvil")
    s.set_defaults(func=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level)
    if args.data_dir is None:
        args.data_dir = str(_default_dir())
    try:
        return int(args.func(args) or 0)
    except ExchangeError as exc:
        print(f"device-agent: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
