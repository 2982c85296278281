"""Fixtures for the relay: devices checked in on eth-tester, a relay reading their keys from the
registry, and agents connected to it through the real connector."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.agent.conftest import PASSWORD, _deployed_once, deployed, fund_embedded, make_agent, wait_for  # noqa: F401


@pytest.fixture
def checked_in(make_agent, deployed):  # noqa: F811
    """Factory: a DeviceAgent checked in on the shared eth-tester chain."""
    chain, manifest = deployed

    def make(name: str = "dev", **config):
        agent = make_agent(name, **config)
        fund_embedded(chain, agent)
        agent.attach_chain(chain, manifest)
        agent.enable()
        return agent

    return make


@pytest.fixture
def relay_keys(deployed):  # noqa: F811
    from exchange.relay.keys import RegistryKeys

    chain, manifest = deployed
    return RegistryKeys.from_manifest(chain, manifest)


@pytest.fixture
def start_relay(relay_keys):
    """Factory: a relay serving on a free loopback port (``limits`` to shorten deadlines)."""
    from exchange.relay.server import Relay, RelayThread

    started = []

    def start(limits=None, port: int = 0):
        r = RelayThread(Relay(relay_keys, "test-relay", limits), port=port).start()
        started.append(r)
        return r

    yield start
    for r in started:
        if r._runner is not None:
            r.stop()


@pytest.fixture
def connector():
    from device_agent.relay_link import RelayConnector

    c = RelayConnector(workers=4).start()
    yield c
    c.stop()


def get(url: str, headers: dict | None = None, method: str = "GET", data: bytes | None = None):
    """(status, headers, body bytes) of one request; HTTP errors are answers too."""
    req = urllib.request.Request(url, headers=headers or {}, method=method, data=data)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def get_json(url: str, **kwargs):
    status, headers, body = get(url, **kwargs)
    return status, headers, json.loads(body)


@pytest.fixture
def relayed_runner(deployed, start_relay, tmp_path):  # noqa: F811
    """Factory: an AgentRunner (checked in on eth-tester) configured with ``relays``."""
    from device_agent.config import AgentConfig
    from device_agent.runner import AgentRunner, _fund, init_agent

    chain, manifest = deployed
    made = []

    def make(relays, name="dev", **config):
        data_dir = tmp_path / name
        init_agent(data_dir, PASSWORD, AgentConfig(appliance="fridge", relay_urls=[r.url for r in relays], **config),
                   kdf_n=2**8)
        runner = AgentRunner(data_dir, PASSWORD, chain=chain, manifest=manifest, enable=False, sell=False,
                             streams=False)
        _fund(chain, runner.agent, 10**19)
        runner.enable_on_start = True
        made.append(runner.start())
        for link in runner.relay_connector.links:
            wait_for(f"the agent to connect to {link.relay_url}", link.connected.is_set, 15)
        return runner

    yield make
    for r in made:
        r.stop()
