"""``thingbid up``: the whole system in one command; ``--check`` runs the end-to-end scenario.

Services (each a child process, stopped in reverse order on Ctrl-C or at the end of --check):
chain (anvil, or eth-tester served over JSON-RPC in this process), contracts (deployed or
reused), tangle node(s), simulated device agents, catalog indexer, web app.

A dev OEM (an encrypted keystore in the state dir, allow-listed on the registry by governance)
attests every other simulated device at check-in, so the catalog shows attested and
non-attested devices.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

DEMO_BIDDING_S = 60
DEMO_SAMPLE_S = 5


def register(sub) -> None:
    p = sub.add_parser("up", help="start the whole system (chain, contracts, tangle, agents, indexer, web app)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--chain", choices=["anvil", "embedded"], default="anvil",
                       help="anvil (default) or eth-tester in this process, served over JSON-RPC")
    where.add_argument("--rpc", metavar="URL", help="an existing EVM JSON-RPC endpoint with unlocked dev accounts")
    p.add_argument("--port", type=int, default=8545, help="anvil port (default 8545)")
    p.add_argument("--web-port", type=int, default=5000, help="web app port (default 5000)")
    p.add_argument("--tangle-port", type=int, default=14265, help="first tangle node's port (default 14265)")
    p.add_argument("--tangle-nodes", type=int, default=1, help="tangle nodes to start (gossiping peers)")
    p.add_argument("--agents", type=int, default=8, help="simulated device agents (default 8)")
    p.add_argument("--relay-port", type=int, default=8700, help="the relay's port (default 8700)")
    p.add_argument("--no-relay", action="store_true",
                   help="no relay: the agents' TDs point at their own loopback ports (development)")
    p.add_argument("--state-dir", type=Path, default=None,
                   help="where all state goes (default .thingbid/run, recreated; --check: a fresh temporary dir)")
    p.add_argument("--agent-source", action="append", default=[], metavar="SPEC",
                   help="also sell a real device: wot:URL (a WoT Thing) or mqtt:URL#TOPIC (repeatable)")
    p.add_argument("--demo", action="store_true",
                   help=f"short auctions ({DEMO_BIDDING_S} s) and a reading every {DEMO_SAMPLE_S} s, so a key bought "
                        "right away shows data within minutes (docs/client.md)")
    p.add_argument("--check", action="store_true", help="run the end-to-end scenario headless, then stop; exit 0 if it passed")
    p.add_argument("--keep", action="store_true",
                   help="keep the state dir from an earlier run (with --rpc: a chain that outlives the run; "
                        "the agents' password then comes from $THINGBID_AGENT_PASSWORD)")
    p.set_defaults(func=run)


def _free(port: int) -> int:
    """``port`` if nothing listens there, else a free one (never two systems on one port)."""
    import socket

    from exchange.chain.anvil import free_port

    if port == 0:
        return free_port()
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            return free_port()


def run(args) -> int:
    from exchange.chain import artifacts
    from exchange.chain.anvil import DEV_BLOCK_SECONDS, anvil_args, free_port, rpc_chain_id
    from exchange.chain.connect import create_keystore, embedded_chain, rpc_chain
    from exchange.chain.deploy import deploy_all
    from exchange.config import REPO_ROOT
    from exchange.errors import ConfigError
    from exchange.system.supervisor import Service, Supervisor, http_ready, python_cmd

    artifacts.check()
    if args.agents < 1 or args.tangle_nodes < 1:
        raise ConfigError("--agents and --tangle-nodes must be at least 1")
    from device_agent.sources import parse_spec

    for spec in args.agent_source:
        if parse_spec(spec)["kind"] == "simulator":
            raise ConfigError(f"--agent-source {spec!r}: simulators are the fleet already; give wot:URL or mqtt:URL#TOPIC")
    agent_password = os.environ.get("THINGBID_AGENT_PASSWORD")
    if args.keep and not args.rpc:
        raise ConfigError("--keep needs --rpc: anvil and the embedded chain start empty, so kept agents and "
                          "catalog would point at contracts that no longer exist")
    if args.keep and not agent_password:
        raise ConfigError("--keep needs $THINGBID_AGENT_PASSWORD (the same on every run): the kept agents' "
                          "key files are encrypted with it")
    temp = None
    if args.state_dir is None and args.check:
        temp = tempfile.mkdtemp(prefix="thingbid-check-")
        state = Path(temp)
    else:
        state = (args.state_dir or REPO_ROOT / ".thingbid" / "run").resolve()
        if state.exists() and not args.keep:
            shutil.rmtree(state)
    state.mkdir(parents=True, exist_ok=True)
    deployments = state / "deployments"
    from exchange.system.signals import SignalStop

    signals = SignalStop()
    stop = signals.event
    sup = Supervisor(state)
    rpc_server = None
    started = time.monotonic()
    # In --check every port is a free one, so a check never collides with a running system.
    pick = (lambda _preferred: free_port()) if args.check else _free
    try:
        # 1. chain
        if args.rpc:
            rpc_url = args.rpc
            print(f"{'chain':12} {rpc_url} (existing endpoint)", flush=True)
        elif args.chain == "embedded":
            from exchange.chain.rpcserver import EmbeddedRpcServer

            rpc_server = EmbeddedRpcServer(embedded_chain(), port=0 if args.check else pick(args.port),
                                           block_seconds=DEV_BLOCK_SECONDS).start()
            rpc_url = rpc_server.url
            print(f"{'chain':12} {rpc_url} (eth-tester in this process)", flush=True)
        else:
            port = pick(args.port)
            rpc_url = f"http://127.0.0.1:{port}"
            sup.start(Service("anvil", anvil_args(port, block_time=DEV_BLOCK_SECONDS),
                              ready=lambda: rpc_chain_id(rpc_url, 0.3) is not None,
                              describe=f"{rpc_url} (a block at least every {DEV_BLOCK_SECONDS} s)"))
        chain = rpc_chain(rpc_url, kind="anvil" if not args.rpc else "rpc")
        # 2. contracts
        manifest, manifest_path = deploy_all(chain, deployments, progress=lambda m: print(f"{'deploy':12} {m}", flush=True))
        print(f"{'manifest':12} {manifest_path}", flush=True)
        oem, oem_env, oem_args = _dev_oem(chain, manifest, state, args.agents)
        env = {"THINGBID_STATE_DIR": str(state), "THINGBID_RPC_URL": rpc_url,
               "THINGBID_DEPLOYMENTS_DIR": str(deployments), "THINGBID_DATABASE_URL": f"sqlite:///{state / 'catalog.db'}",
               "THINGBID_CONFIG": str(state / "none.toml")}
        # 3. tangle
        tangle_urls = []
        for i in range(args.tangle_nodes):
            port = pick(args.tangle_port + i)
            url = f"http://127.0.0.1:{port}"
            argv = python_cmd("exchange.cli", "--log-level", "WARNING", "tangle", "node", "--port", str(port),
                              "--db", f"sqlite:///{state / f'tangle-{i}.db'}")
            for peer in tangle_urls:
                argv += ["--peer", peer]
            if i > 0:
                argv.append("--no-coordinator")
            sup.start(Service(f"tangle-{i}", argv, ready=http_ready(url + "/v1/info"), describe=url, env=env))
            tangle_urls.append(url)
        env["THINGBID_TANGLE_URL"] = tangle_urls[0]
        # 4. indexer
        sup.start(Service("indexer", python_cmd("exchange.system.indexer", "--rpc", rpc_url, "--deployments-dir",
                                                str(deployments), "--db", env["THINGBID_DATABASE_URL"]),
                          describe=f"registry + ratings -> {env['THINGBID_DATABASE_URL']}", env=env))
        # 5. relay: the agents dial out to it (as from behind a home router); their TDs name it
        relay_args, relay_url = [], ""
        if not args.no_relay:
            relay_port = pick(args.relay_port)
            relay_url = f"http://127.0.0.1:{relay_port}"
            sup.start(Service("relay", python_cmd("exchange.cli", "--log-level", "WARNING", "relay", "--port",
                                                  str(relay_port), "--rpc", rpc_url, "--deployments-dir", str(deployments)),
                              ready=http_ready(relay_url + "/v1/info"), describe=relay_url, env=env))
            relay_args = ["--relay", relay_url]
        # 6. device agents
        bidding_seconds = DEMO_BIDDING_S if args.demo else 3600
        demo_args = ["--sample-seconds", str(DEMO_SAMPLE_S)] if args.demo else []
        agent_password = agent_password or secrets.token_urlsafe(18)
        agent_env = {**env, "THINGBID_AGENT_PASSWORD": agent_password, **oem_env}
        source_args = [x for spec in args.agent_source for x in ("--source", spec)]
        sup.start(Service("agents", python_cmd("device_agent.fleet_service", "--state-dir", str(state), "--agents",
                                               str(args.agents), "--rpc", rpc_url, "--deployments-dir", str(deployments),
                                               "--tangle-url", tangle_urls[0], "--bidding-seconds", str(bidding_seconds),
                                               *oem_args, *source_args, *relay_args, *demo_args),
                          ready=lambda: (state / "fleet.json").exists(), timeout=180,
                          describe=f"{args.agents} simulated appliances"
                                   + (f" and {len(args.agent_source)} real source(s)" if args.agent_source else "")
                                   + " enabled and checked in"
                                   + (f", reached through the relay {relay_url}" if relay_url else ""), env=agent_env))
        # 7. web app, with a demo account
        web_port = pick(args.web_port)
        web_url = f"http://127.0.0.1:{web_port}"
        demo_password = secrets.token_urlsafe(12)
        demo_address = create_keystore(state / "keystores" / "demo.json", demo_password)
        if chain.accounts and not args.rpc:  # a local dev chain: the demo account can bid from Python at once
            chain.send_value(demo_address, 100 * 10**18)
        # Where everything is, for the client library and the data CLI (docs/client.md).
        (state / "client.toml").write_text(
            f'rpc_url = "{rpc_url}"\ndatabase_url = "{env["THINGBID_DATABASE_URL"]}"\n'
            f'deployments_dir = "{deployments}"\ntangle_url = "{tangle_urls[0]}"\nstate_dir = "{state}"\n')
        sup.start(Service("web", python_cmd("frontend.serve", "--port", str(web_port), "--dev-faucet",
                                            "--device-network", "127.0.0.0/8"),
                          ready=http_ready(web_url + "/catalog/"), describe=web_url, env=env))
        print(f"{'ready':12} in {time.monotonic() - started:.1f} s; state in {state}", flush=True)
        print(f"\n  Open {web_url}  and sign in as  demo  with password  {demo_password}\n", flush=True)
        print(f"  Python and CLI (docs/client.md): THINGBID_KEYSTORE_PASSWORD={demo_password} thingbid search "
              f"--config {state / 'client.toml'} --keystore {state / 'keystores' / 'demo.json'}\n", flush=True)
        # The owner's tools (revoke, status, doctor) need the agents' key-file password.
        print(f"  Agents: THINGBID_KEYSTORE_PASSWORD={agent_password} device-agent --data-dir "
              f"{state / 'agents' / 'device-00'} status\n", flush=True)
        if args.check:
            return _check(chain, manifest, state, web_url, tangle_urls[0], bidding_seconds, sup,
                          database_url=env["THINGBID_DATABASE_URL"], oem=oem, relay_url=relay_url)
        print("running; press Ctrl-C to stop everything", flush=True)
        while not stop.wait(1.0):
            sup.check_alive()
        return 0
    finally:
        print("stopping ...", flush=True)
        sup.stop_all()
        if rpc_server:
            rpc_server.stop()
        signals.restore()
        if temp:
            shutil.rmtree(temp, ignore_errors=True)
        print("stopped", flush=True)


def _dev_oem(chain, manifest, state: Path, agents: int) -> tuple[str, dict, list[str]]:
    """Create the demo's OEM key (encrypted keystore; its random password only ever in the fleet's
    environment, like the agents' one) and allow-list it on the registry from the governance account.

    Returns (OEM address, environment, fleet_service arguments); all empty when governance is not
    an account this process can send from (an --rpc deployment whose governance moved): then no
    device is attested.
    """
    from exchange.chain.connect import create_keystore
    from exchange.chain.registry import RegistryClient

    registry = RegistryClient.from_manifest(chain, manifest)
    governance = registry.governance()
    if governance.lower() not in {a.lower() for a in chain.accounts}:
        print(f"{'oem':12} registry governance {governance} is not an unlocked account here: "
              "no OEM is allow-listed and no demo device is attested", flush=True)
        return "", {}, []
    password = secrets.token_urlsafe(18)
    key_file = state / "keystores" / "oem.json"
    address = create_keystore(key_file, password)
    registry.set_oem(address, True, sender=governance)
    attested = ", ".join(f"device-{i:02d}" for i in range(0, agents, 2))
    print(f"{'oem':12} {address} (dev OEM, allow-listed by governance {governance}) attests the demo devices "
          f"{attested}", flush=True)
    return address, {"THINGBID_OEM_PASSWORD": password}, ["--oem-key-file", str(key_file)]


def _check(chain, manifest, state, web_url, tangle_url, bidding_seconds, sup, database_url: str = "",
           oem: str = "", relay_url: str = "") -> int:
    from exchange.system.scenario import ScenarioFailed, World, load_fleet, run_scenario

    t0 = time.monotonic()
    world = World(chain, manifest, load_fleet(state), web_url, tangle_url, bidding_seconds,
                  database_url=database_url, oem=oem, relay_url=relay_url)
    try:
        run_scenario(world)
    except ScenarioFailed as exc:
        print(f"check FAILED: {exc}", file=sys.stderr, flush=True)
        for svc in sup.services:
            print(f"--- {svc.name} log tail ---\n{sup.tail(svc, 8)}", file=sys.stderr)
        return 1
    sup.check_alive()
    print(f"check passed: every step of the scenario held ({time.monotonic() - t0:.1f} s)", flush=True)
    return 0
