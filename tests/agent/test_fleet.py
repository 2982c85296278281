"""Several simulated agents in one process (what `thingbid up` starts): all check in and sell."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from device_agent.runner import simulated_fleet
from exchange.chain.auction import AuctionHouseClient
from exchange.chain.registry import RegistryClient
from exchange.wot import validate_td


@pytest.mark.anvil
def test_four_mixed_agents_check_in_serve_and_open_auctions(anvil_chain, tmp_path):
    from exchange.chain.deploy import deploy_all

    manifest, _ = deploy_all(anvil_chain, tmp_path / "deployments", fresh=True)
    runners = simulated_fleet(tmp_path / "state", 4, "fleet pw", chain=anvil_chain, manifest=manifest,
                              kdf_n=2**8, sell_interval=0.2)
    try:
        registry = RegistryClient.from_manifest(anvil_chain, manifest)
        house = AuctionHouseClient.from_manifest(anvil_chain, manifest)
        kinds = set()
        for r in runners:
            assert registry.is_active(r.agent.device_id)
            with urllib.request.urlopen(r.url + "/.well-known/wot", timeout=5) as resp:
                td = json.loads(resp.read())
            validate_td(td)
            kinds.add(td["@type"][1])
        assert kinds == {"Refrigerator", "Television", "WashingMachine", "Thermostat"}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and house.auction_count() < 4:
            time.sleep(0.1)
        opened = {house.auction(i).device_id for i in range(1, house.auction_count() + 1)}
        assert opened == {r.agent.device_id for r in runners}
        assert len({r.agent.address for r in runners}) == 4  # one account per device: unlinkable owners
    finally:
        for r in runners:
            r.stop()


def test_agents_sharing_an_in_process_chain_take_turns(tmp_path):
    """eth-tester is not thread-safe: agents sharing it serialise through the chain's lock."""
    from exchange.chain.connect import embedded_chain
    from exchange.chain.deploy import deploy_all

    chain = embedded_chain()
    manifest, _ = deploy_all(chain, tmp_path / "deployments", fresh=True)
    runners = simulated_fleet(tmp_path / "state", 3, "pw", chain=chain, manifest=manifest, kdf_n=2**8,
                              sell_interval=0.05, bidding_seconds=5, mechanism="english")
    try:
        house = AuctionHouseClient.from_manifest(chain, manifest)

        def progress():
            with chain.lock:
                count = house.auction_count()
            return count, [r.agent.status()["auctions"] for r in runners]

        # Move time on until every agent has opened, seen unsold and reopened its auction (a
        # deadline, not a fixed number of rounds: a loaded machine only makes it slower).
        deadline = time.monotonic() + 90
        count, per_device = progress()
        while not (count >= 6 and all(s.get("no_sale", 0) >= 1 for s in per_device)):
            assert time.monotonic() < deadline, (count, per_device)
            time.sleep(0.3)
            with chain.lock:
                chain.time_travel(6)
            count, per_device = progress()
        assert all(t.is_alive() for r in runners for t in r.threads)
    finally:
        for r in runners:
            r.stop()
        chain.close()


def test_every_other_agent_is_oem_attested_with_an_oem_key_file(tmp_path, monkeypatch):
    """What `thingbid up` does for the demo: an allow-listed OEM's keystore attests devices 0, 2, ..."""
    from device_agent.identity import _fast_eth_keystore
    from exchange.chain.connect import embedded_chain
    from exchange.chain.deploy import deploy_all

    chain = embedded_chain()
    manifest, _ = deploy_all(chain, tmp_path / "deployments", fresh=True)
    registry = RegistryClient.from_manifest(chain, manifest)
    oem_file = tmp_path / "keystores" / "oem.json"
    oem_file.parent.mkdir()
    oem = _fast_eth_keystore(oem_file, "oem pw", None, 2**8)  # a standard keystore, cheap KDF
    registry.set_oem(oem)
    monkeypatch.setenv("THINGBID_OEM_PASSWORD", "oem pw")
    runners = simulated_fleet(tmp_path / "state", 3, "pw", chain=chain, manifest=manifest, kdf_n=2**8,
                              sell_interval=60, oem_key_file=oem_file)
    try:
        assert [registry.is_attested(r.agent.device_id) for r in runners] == [True, False, True]
        assert [bool(r.agent.config.oem_key_file) for r in runners] == [True, False, True]
        assert runners[0].agent.config.oem_key_file == str(oem_file.resolve())
        attested = [ev.args["oem"] for ev in registry.events() if ev.name == "DeviceAttested"]
        assert attested == [oem, oem]
    finally:
        for r in runners:
            r.stop()
        chain.close()
