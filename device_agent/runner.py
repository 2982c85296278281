"""Run an agent programmatically: the HTTP server, the selling loop and the stream loop in threads.

``thingbid up`` starts several simulated agents in one process with this::

    runner = AgentRunner(data_dir, password, chain_url=url, deployments_dir=dir, tangle_url=turl, enable=True)
    runner.start()   # serves, checks in (when enabled), sells, publishes
    ...
    runner.stop()
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from werkzeug.serving import make_server

from device_agent.agent import DeviceAgent
from device_agent.config import AgentConfig, save_config
from device_agent.errors import AgentError
from device_agent.identity import create_identity, exists
from device_agent.server import ServingContext, create_app
from exchange.border import JsonErrorHandler
from exchange.chain.connect import Chain
from exchange.errors import ExchangeError

log = logging.getLogger(__name__)


def init_agent(data_dir: Path, password: str, config: AgentConfig, *, kdf_n: int | None = None,
               credentials: dict[str, str] | None = None) -> str:
    """Create identity + config in ``data_dir`` (``device-agent init``); returns the device id (hex).

    Idempotent for the launcher: an existing identity is kept and only the config is written.
    """
    return init_identity(data_dir, password, config, kdf_n=kdf_n, credentials=credentials).device_id_hex


def init_identity(data_dir: Path, password: str, config: AgentConfig, *, kdf_n: int | None = None,
                  credentials: dict[str, str] | None = None):
    """``init_agent`` returning the device's ``Identity`` (its address is the one to fund).
    The upstream's ``credentials`` go to the encrypted store, never into the config."""
    from device_agent.credentials import save_credentials

    data_dir = Path(data_dir)
    config.validate()
    ident = None
    if not exists(data_dir):
        ident = create_identity(data_dir, password, scrypt_n=kdf_n)
    if credentials:
        save_credentials(data_dir, password, credentials, kdf_n=kdf_n)
    save_config(data_dir, config)
    if ident is None:
        from device_agent.identity import load_identity

        ident = load_identity(data_dir, password)
    return ident


def wot_app(agent: DeviceAgent, **serving):
    """The agent's WoT HTTP app (the same one answers direct and relayed requests); ``serving``
    overrides ``ServingContext`` fields (the fuzz suite shortens the event subscription wait)."""
    ctx = ServingContext(agent.identity.device_id_hex, agent.identity.ed25519_public, agent.data, agent.profile,
                         td=agent.td, clock=agent.clock, revoked=agent.state.revoked_ids,
                         rate_per_second=agent.config.rate_per_second, rate_burst=agent.config.rate_burst,
                         ed25519_private=agent.identity.ed25519_private, x25519_private=agent.identity.x25519_private,
                         **serving)
    return create_app(ctx)


class AgentRunner:
    """One agent with its threads. ``chain`` (an existing connection whose accounts include the
    device's) or ``chain_url`` (a connection signing with the device's keystore) may be given;
    without either the agent only serves."""

    def __init__(self, data_dir: Path, password: str, *, chain: Chain | None = None, chain_url: str | None = None,
                 manifest: dict | None = None, deployments_dir: Path | None = None, tangle_url: str | None = None,
                 enable: bool = False, sell: bool = True, sell_interval: float = 1.0, kdf_n: int | None = None,
                 streams: bool = True):
        self.agent = DeviceAgent(Path(data_dir), password)
        self.chain, self.chain_url, self.manifest = chain, chain_url, manifest
        self.deployments_dir = deployments_dir
        self.tangle_url = tangle_url
        self.enable_on_start, self.sell, self.sell_interval, self.kdf_n = enable, sell, sell_interval, kdf_n
        self.streams = streams  # False: no stream sales on any ledger
        self.stop_event = threading.Event()
        self.threads: list[threading.Thread] = []
        self.server = None
        self.seller = None
        self.publisher = None
        self.publishers: dict = {}  # ledger kind -> StreamPublisher
        self.url = ""
        self.relay_connector = None  # dials the configured relays (device_agent.relay_link)

    # ------------------------------------------------------------ parts
    def serve(self, **serving) -> None:
        """Start the WoT HTTP server only (``start`` does this first; the fuzz suite only this)."""
        a = self.agent
        self.app = wot_app(a, **serving)
        try:
            self.server = make_server(a.config.http_host, a.config.http_port, self.app, threaded=True,
                                      request_handler=JsonErrorHandler)
        except OSError as exc:  # the remembered port is taken: serve elsewhere (the TD is updated on sync)
            if not a.config.http_port:
                raise
            log.warning("port %d unavailable (%s); using a free port", a.config.http_port, exc)
            self.server = make_server(a.config.http_host, 0, self.app, threaded=True,
                                      request_handler=JsonErrorHandler)
        self.url = f"http://{a.config.http_host}:{self.server.server_port}"
        a.set_base_url(self.url)
        self._thread("http", self.server.serve_forever)

    def _connect_chain(self) -> None:
        if self.chain is None and self.chain_url:
            from exchange.chain.connect import rpc_chain

            self.chain = rpc_chain(self.chain_url, keystore=self.agent.identity.eth_keystore,
                                   password=self.agent.identity.password)
        if self.chain is None:
            return
        if self.manifest is None:
            from exchange.chain.deploy import load_manifest
            from exchange.config import load_settings

            ddir = self.deployments_dir or load_settings().deployments_dir
            self.manifest = load_manifest(self.chain, Path(ddir))
            if self.manifest is None:
                raise AgentError(f"no deployment manifest for chain {self.chain.chain_id} in {ddir}: deploy first")
        self.agent.attach_chain(self.chain, self.manifest)

    def _thread(self, name: str, target, *args) -> None:
        t = threading.Thread(target=target, args=args, name=f"agent-{self.agent.identity.device_id_hex[:8]}-{name}",
                             daemon=True)
        t.start()
        self.threads.append(t)

    # ------------------------------------------------------------ public
    def start(self) -> AgentRunner:
        try:
            return self._start()
        except BaseException:
            self.stop()  # nothing left running behind a failed start
            raise

    def _start(self) -> AgentRunner:
        self.agent.source.start(self.agent.recorder)  # every reading goes through the recorder
        self.serve()
        self._connect_chain()
        if self.agent.registry is not None:
            if self.enable_on_start:
                self.agent.enable()
            elif self.agent.enabled():
                self.agent.sync_registration()  # the URL or profile may have changed
            else:
                try:  # no consent: make sure the registry does not list the device
                    done = self.agent.complete_opt_out()
                    if done["action"] == "checked_out":
                        log.info("device %s was still listed without consent: checked out", self.agent.identity.device_id_hex[:12])
                except ExchangeError as exc:
                    log.warning("could not check the device out (retried on the next start): %s", exc)
            if self.sell and "AuctionHouse" in self.manifest.get("contracts", {}):
                from device_agent.house import HousePort
                from device_agent.selling import Seller

                self.seller = Seller(self.agent, HousePort.from_manifest(self.chain, self.manifest, self.agent))
                self._thread("sell", self.seller.run, self.stop_event, self.sell_interval)
        elif self.enable_on_start:
            self.agent.record_consent()  # no chain: the opt-in still gates stream sales
        if self.agent.config.relay_urls:
            self._dial_relays()
        if self.streams:
            self._start_streams()
        log.info("agent %s (%s) serving at %s", self.agent.identity.device_id_hex[:12], self.agent.config.appliance,
                 self.url)
        return self

    def _dial_relays(self) -> None:
        """Keep a connection to every configured relay; requests over it reach the same WoT app."""
        from device_agent.relay_link import RelayConnector, call_wsgi

        a, app = self.agent, self.app
        self.relay_connector = RelayConnector().start()
        for url in a.config.relay_urls:
            self.relay_connector.add(url, a.device_id, a.identity.ed25519_private,
                                     lambda m, t, h, c, b: call_wsgi(app, m, t, h, c, b))

    def _start_streams(self) -> None:
        """One publisher per configured stream ledger that can be reached (tangle: a node URL;
        ethereum: a chain with a MessageBoard, the agent's own account paying gas)."""
        from device_agent.streaming import StreamPublisher, ethereum_ledger, tangle_ledger

        for kind in self.agent.config.stream_ledgers:
            if kind == "tangle" and self.tangle_url:
                ledger = tangle_ledger(self.agent.identity, self.tangle_url)
            elif kind == "ethereum" and self.chain is not None:
                from exchange.config import load_settings

                ledger = ethereum_ledger(self.agent, self.chain, self.manifest, load_settings().confirmations)
            else:
                log.warning("stream sales on %s configured but no %s given: not selling there", kind,
                            "tangle URL" if kind == "tangle" else "chain")
                continue
            # Nothing is advertised, published or sold on any ledger before the owner's opt-in.
            pub = StreamPublisher(self.agent, ledger, kdf_n=self.kdf_n, require_consent=True)
            self.publishers[kind] = pub
            self._thread(f"stream-{kind}", pub.run, self.stop_event)
        # The first publisher, for callers from before stream_ledgers (the tangle one by default).
        self.publisher = next(iter(self.publishers.values()), None)

    def stop(self) -> None:
        self.stop_event.set()
        if self.relay_connector is not None:
            self.relay_connector.stop()
            self.relay_connector = None
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        for t in self.threads:
            t.join(timeout=15)
        self.threads.clear()
        self.agent.close()

    def __enter__(self) -> AgentRunner:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# A handful of demo homes (city centres); each simulated device sits a few km off its centre.
DEMO_PLACES = [(52.5200, 13.4050), (48.8566, 2.3522), (51.5074, -0.1278), (40.4168, -3.7038),
               (41.9028, 12.4964), (52.3676, 4.9041), (59.3293, 18.0686), (50.0755, 14.4378)]
FLEET_APPLIANCES = ("fridge", "tv", "washer", "thermostat")


def fleet_config(i: int, **overrides) -> AgentConfig:
    """The config of simulated device number ``i`` (mixed appliances, places, prices)."""
    import random

    from exchange.chain.anvil import free_port

    rng = random.Random(i)
    lat, lon = DEMO_PLACES[i % len(DEMO_PLACES)]
    kind = FLEET_APPLIANCES[i % len(FLEET_APPLIANCES)]
    values = dict(appliance=kind, seed=i, lat=lat + rng.uniform(-0.05, 0.05), lon=lon + rng.uniform(-0.05, 0.05),
                  tz_offset_h=round(lon / 15), reserve_price_wei=rng.choice([1, 2, 5]) * 10**15,
                  mechanism="english" if i % 3 else "sealed-second-price", http_port=free_port(),
                  tags=[{"fridge": "kitchen", "tv": "living-room", "washer": "utility",
                         "thermostat": "heating"}[kind]])
    values.update(overrides)
    return AgentConfig(**values).validate()


def simulated_fleet(state_dir: Path, n: int, password: str, *, chain: Chain | None = None,
                    chain_url: str | None = None, manifest: dict | None = None, deployments_dir: Path | None = None,
                    tangle_url: str | None = None, fund_wei: int = 10**19, enable: bool = True,
                    kdf_n: int | None = 2**12, sell_interval: float = 1.0, oem_key_file: str | Path | None = None,
                    attest_every: int = 2, sources: tuple[dict, ...] | list[dict] = (),
                    **overrides) -> list[AgentRunner]:
    """Create (first time) and start ``n`` simulated agents under ``state_dir/agents``.

    With ``chain`` (eth-tester, or a local node whose deployer account is unlocked) each agent's
    account is funded from ``chain.deployer``; with only ``chain_url``, fund the addresses
    yourself (``runner.agent.address``) before they can check in. Demo KDF cost is
    lowered by ``kdf_n`` so eight agents start in seconds; pass None for the strong default.

    With ``oem_key_file`` (an encrypted OEM keystore; its password in $THINGBID_OEM_PASSWORD,
    else the agents' password) every ``attest_every``-th device (0, 2, 4, ... by default) is
    configured with it, so its check-in is OEM-attested; the OEM must be allow-listed on the
    registry. Only devices created now get it: an existing agent keeps its saved config.

    ``sources`` (config ``source`` objects, see ``device_agent.sources.resolve_spec``) add one
    agent each, ``agents/source-NN``, selling a real upstream beside the simulated ones.
    """
    if attest_every < 1:
        raise ValueError("attest_every must be at least 1")
    runners: list[AgentRunner] = []
    # eth-tester: agents share the in-process chain (their keys unlocked in it); any node
    # reached by URL: each agent signs with its own keystore over its own connection.
    shared = chain if chain is not None and chain.kind == "embedded" else None
    if chain is not None and shared is None and not chain_url:
        chain_url = chain.url
    plan = [(f"device-{i:02d}", i, None) for i in range(n)]
    plan += [(f"source-{j:02d}", n + j, src) for j, src in enumerate(sources)]
    try:
        for name, i, src in plan:
            data_dir = Path(state_dir) / "agents" / name
            if not exists(data_dir):
                extra = dict(overrides)
                if src is not None:
                    extra.update(source=src, tags=[])
                elif oem_key_file and i % attest_every == 0:
                    extra["oem_key_file"] = str(Path(oem_key_file).resolve())
                init_agent(data_dir, password, fleet_config(i, **extra), kdf_n=kdf_n)
            runner = AgentRunner(data_dir, password, chain=shared, chain_url=None if shared else chain_url,
                                 manifest=manifest,
                                 deployments_dir=deployments_dir, tangle_url=tangle_url, enable=enable,
                                 sell_interval=sell_interval, kdf_n=kdf_n)
            if chain is not None:
                _fund(chain, runner.agent, fund_wei)
            runners.append(runner.start())
    except BaseException:
        for r in runners:
            r.stop()
        raise
    return runners


def _fund(chain: Chain, agent, wei: int) -> None:
    """Local chains only: make the agent's account usable and give it gas money once."""
    with chain.lock:
        _fund_locked(chain, agent, wei)


def _fund_locked(chain: Chain, agent, wei: int) -> None:
    chain.add_dev_account(agent.identity.eth_private_key())
    chain.dev_fund(agent.address, wei)
