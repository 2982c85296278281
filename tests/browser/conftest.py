"""Browser fixtures: the app on a real werkzeug server, a world on anvil, a tangle node, one real device.

Chromium is Debian's (/usr/bin/chromium) driven by Playwright; absent chromium skips with the reason.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--no-first-run",
               "--disable-component-update", "--disable-sync"]
FLEET = 199  # simulated fleet devices; with the one real device, 200 match the "fleet" tag


class ServerThread:
    """A real werkzeug server on 127.0.0.1 (free port) in a thread."""

    def __init__(self, app):
        from werkzeug.serving import make_server

        self.srv = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.srv.server_port}"
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.srv.shutdown()
        self.thread.join(5)


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Debian chromium not installed at {CHROMIUM}: run ./scripts/setup as root")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    b = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
    yield b
    b.close()
    pw.stop()


@pytest.fixture
def page_factory(browser):
    contexts = []

    def make():
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(ctx)
        p = ctx.new_page()
        p.set_default_timeout(20_000)
        p.console_errors = []
        p.on("console", lambda m: p.console_errors.append(m.text) if m.type == "error" else None)
        return p

    yield make
    for c in contexts:
        c.close()


class RealDevice:
    """One device as its agent runs it: WoT HTTP server (chain-time clock) and a tangle stream seller."""

    def __init__(self, chain, owner: str, tangle_url: str, tags: tuple[str, ...] = ("fleet", "berlin")):
        from device_agent.config import AgentConfig
        from device_agent.profiles import profile
        from device_agent.server import ServingContext
        from device_agent.server import create_app as device_app
        from device_agent.simulators import make_simulator
        from device_agent.td import build_td
        from exchange.crypto import ed25519_public, generate_ed25519, generate_x25519

        self.chain = chain
        from exchange.chain.devicekey import DeviceKey

        self.device_seed = os.urandom(32)  # derives the device key whose address is the id
        self.device_id = DeviceKey.from_seed(self.device_seed).device_id
        self.hex = self.device_id.hex()
        self.ed_private, _ = generate_ed25519()
        self.x_private, _ = generate_x25519()
        self.config = AgentConfig(appliance="fridge", tags=list(tags))
        self.profile = profile("fridge")
        self.sim = make_simulator("fridge", seed=3)
        self.td = None
        ctx = ServingContext(self.hex, ed25519_public(self.ed_private), self.sim, self.profile,
                             td=lambda: self.td, clock=self.chain_time, revoked=lambda: frozenset())
        self.server = ServerThread(device_app(ctx)).__enter__()
        self.td = build_td(self.config, self.hex, self.server.url, self.profile)
        self.owner = owner
        self.tangle_url = tangle_url
        from exchange.ledger.tangle import TangleLedger

        # Made before the check-in: the registry names this address, and buyers pay only to it.
        self.ledger = TangleLedger.connect(tangle_url)
        self.stop = threading.Event()

    def chain_time(self) -> int:
        return int(self.chain.w3.eth.get_block("latest")["timestamp"])

    def sim_device(self):
        from frontend.devworld import SimDevice

        return SimDevice(self.device_id, "fridge", "Berlin", self.owner, 3 * 10**14, self.x_private,
                         self.ed_private, self.td, device_seed=self.device_seed, tangle_address=self.ledger.address)

    def deliver_keys(self, world) -> list[int]:
        """What the agent does after settlement: seal a signed access token to each winner."""
        from exchange.chain.auction import AuctionHouseClient
        from exchange.crypto import AccessClaims, issue_token, seal
        from exchange.crypto.delivery import key_context

        house = AuctionHouseClient.from_manifest(world.chain, world.manifest)
        done = []
        d = world.by_id(self.hex)
        info = house.auction(d.auction_id)
        if info.state == "awaiting_key":
            now = self.chain_time()
            claims = AccessClaims(self.hex, d.auction_id, info.first, now, now + info.access_period)
            token = issue_token(self.ed_private, claims)
            box = seal(house.buyer_key_of(info.first), token.encode(), key_context(d.auction_id))
            house.deliver_key(d.auction_id, box, sender=self.owner)
            done.append(d.auction_id)
        return done

    def start_stream(self):
        from exchange.streams.seller import StreamSeller

        self.seller = StreamSeller(self.ledger, self.hex, self.ed_private)
        self.seller.add_stream("fridge", price=2, max_span=100)
        self.seller.advertise()

        def run():
            while not self.stop.is_set():
                t = time.time()
                try:
                    self.seller.publish("fridge", {"t": int(t), "temperature": self.sim.read("temperature", t)})
                    self.seller.poll()
                except Exception:  # noqa: BLE001 - a busy node: try again next tick
                    pass
                self.stop.wait(0.4)

        threading.Thread(target=run, daemon=True).start()

    def close(self):
        self.stop.set()
        self.server.__exit__()


@pytest.fixture(scope="module")
def system(anvil_process, tmp_path_factory):
    """Anvil (state reverted afterwards) + contracts + 202 devices + catalog + tangle node + the app served."""
    from exchange.chain.connect import rpc_chain
    from exchange.chain.deploy import deploy_all
    from exchange.tangle.testing import run_node
    from frontend import create_app
    from frontend.devworld import World, check_in, index, make_devices, open_auctions_for, sqlite_url
    from frontend.services import Services

    tmp = tmp_path_factory.mktemp("browser")
    chain = rpc_chain(anvil_process.url, kind="anvil")
    snap = chain.w3.provider.make_request("evm_snapshot", [])["result"]
    with run_node(tmp / "tangle", rate_per_s=5000.0, rate_burst=10000) as (tangle_url, _node):
        manifest, _ = deploy_all(chain, tmp / "deployments", fresh=True)
        owners = chain.accounts[1:4]
        real = RealDevice(chain, owners[0], tangle_url)
        devices = make_devices(2, owners, seed=11, hostile=2, tags=("hostile",))
        devices += make_devices(FLEET, owners, seed=12, tags=("fleet",))
        devices.append(real.sim_device())
        check_in(chain, manifest, devices)
        world = World(chain, manifest, sqlite_url(tmp), devices)
        open_auctions_for(world, devices, duration_s=3600)
        index(chain, manifest, world.database_url)
        real.start_stream()
        # The app gets a plain JSON-RPC connection, as under `thingbid up` (the test keeps the
        # anvil-kind one to move time).
        app_chain = rpc_chain(anvil_process.url)
        services = Services(app_chain, manifest, world.database_url, tangle_url, tmp / "keystores", dev_faucet=True)
        app = create_app({"THINGBID_SERVICES": services, "KEYSTORE_SCRYPT_N": 2**12,
                          "DEVICE_NETWORKS": ["127.0.0.0/8"]})  # the real device serves on loopback
        with ServerThread(app) as server:
            yield type("System", (), {"url": server.url, "world": world, "chain": chain, "real": real,
                                      "app": app, "tangle_url": tangle_url})
        real.close()
    chain.w3.provider.make_request("evm_revert", [snap])
