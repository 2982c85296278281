"""Consent and the registry: nothing is checked in before `enable`; update on change; check-out on disable."""

from __future__ import annotations

import json

import pytest

from device_agent.errors import AgentConfigError, NotEnabledError
from exchange.chain.registry import RegistryClient
from tests.agent.conftest import fund_embedded


@pytest.fixture
def agent_on_chain(deployed, make_agent):
    chain, manifest = deployed
    agent = make_agent("reg", "washer")
    fund_embedded(chain, agent)
    agent.attach_chain(chain, manifest)
    return agent, RegistryClient.from_manifest(chain, manifest)


def test_nothing_is_checked_in_before_enable(agent_on_chain):
    agent, reg = agent_on_chain
    with pytest.raises(NotEnabledError, match="not enabled"):
        agent.sync_registration()
    assert not agent.enabled()
    assert reg.owner_of(agent.device_id) == "0x" + "0" * 40
    device_events = [e for e in reg.events() if e.name.startswith("Device")]
    assert device_events == []  # not even a failed attempt left a trace
    assert agent.status()["checked_in"] is False


def test_enable_checks_in_the_canonical_td(agent_on_chain):
    agent, reg = agent_on_chain
    out = agent.enable()
    assert out["action"] == "checked_in"
    assert reg.is_active(agent.device_id) and reg.owner_of(agent.device_id) == agent.address
    assert reg.signing_key_of(agent.device_id) == agent.identity.ed25519_public
    ev = [e for e in reg.events() if e.name == "DeviceCheckedIn"]
    assert len(ev) == 1
    assert json.loads(ev[0].args["td"]) == agent.td()
    assert ev[0].args["reservePrice"] == agent.config.reserve_price_wei
    assert agent.status()["checked_in"] and agent.status()["enabled"]


def test_resync_without_change_sends_nothing_and_a_profile_change_updates(agent_on_chain):
    agent, reg = agent_on_chain
    agent.enable()
    assert agent.sync_registration()["action"] == "unchanged"
    assert len([e for e in reg.events() if e.name.startswith("Device")]) == 1
    cfg = agent.config
    cfg.sell = ["waterToday", "energyToday"]
    cfg.reserve_price_wei = 5 * 10**15
    agent.save_config(cfg)
    assert agent.sync_registration()["action"] == "updated"
    upd = [e for e in reg.events() if e.name == "DeviceUpdated"]
    assert len(upd) == 1 and set(json.loads(upd[0].args["td"])["properties"]) == {"waterToday", "energyToday"}
    assert reg.device(agent.device_id).reserve_price == 5 * 10**15


def test_disable_checks_out_and_blocks_further_syncs(agent_on_chain):
    agent, reg = agent_on_chain
    agent.enable()
    assert agent.disable()["action"] == "checked_out"
    assert not reg.is_active(agent.device_id)
    with pytest.raises(NotEnabledError):
        agent.sync_registration()
    assert agent.enable()["action"] == "checked_in"  # opting in again re-checks in
    assert reg.is_active(agent.device_id)


def test_a_disable_whose_check_out_failed_is_finished_by_complete_opt_out(agent_on_chain):
    agent, reg = agent_on_chain
    agent.enable()
    agent.state.set_enabled(False)  # what disable does first; then its check-out failed (no gas, say)
    assert reg.is_active(agent.device_id)
    assert agent.complete_opt_out()["action"] == "checked_out"
    assert not reg.is_active(agent.device_id)
    assert agent.complete_opt_out() == {"action": "not_checked_in"}  # idempotent: nothing sent again
    assert [e.name for e in reg.events()].count("DeviceCheckedOut") == 1
    agent.enable()
    with pytest.raises(AgentConfigError, match="enabled"):
        agent.complete_opt_out()
    assert reg.is_active(agent.device_id)


def test_an_agent_started_without_consent_checks_a_still_listed_device_out(deployed, make_agent):
    from device_agent.runner import AgentRunner
    from tests.agent.conftest import PASSWORD

    chain, manifest = deployed
    agent = make_agent("late-out", "tv")
    fund_embedded(chain, agent)
    agent.attach_chain(chain, manifest)
    agent.enable()
    agent.state.set_enabled(False)  # consent withdrawn, check-out never happened
    reg = RegistryClient.from_manifest(chain, manifest)
    assert reg.is_active(agent.device_id)
    runner = AgentRunner(agent.data_dir, PASSWORD, chain=chain, manifest=manifest, sell=False, streams=False,
                         kdf_n=2**8).start()
    try:
        assert not reg.is_active(agent.device_id)
        assert not runner.agent.enabled()
    finally:
        runner.stop()


def test_oem_key_file_attests_the_device_at_check_in(deployed, make_agent, tmp_path, monkeypatch):
    from device_agent.identity import _fast_eth_keystore

    chain, manifest = deployed
    reg = RegistryClient.from_manifest(chain, manifest)
    oem_file = tmp_path / "oem.json"
    oem = _fast_eth_keystore(oem_file, "oem secret", None, 2**8)  # a standard keystore, cheap KDF
    reg.set_oem(oem)
    monkeypatch.setenv("THINGBID_OEM_PASSWORD", "oem secret")
    agent = make_agent("oem", "tv", oem_key_file=str(oem_file))
    fund_embedded(chain, agent)
    agent.attach_chain(chain, manifest)
    agent.enable()
    assert reg.is_attested(agent.device_id)
    assert "oem" not in json.dumps(agent.td()).lower()  # the attestation is on chain, not a TD claim


def test_a_failed_attestation_keeps_the_check_in_and_is_retried_on_the_next_sync(deployed, make_agent, tmp_path,
                                                                                  monkeypatch):
    from device_agent.identity import _fast_eth_keystore

    chain, manifest = deployed
    reg = RegistryClient.from_manifest(chain, manifest)
    oem_file = tmp_path / "oem-late.json"
    oem = _fast_eth_keystore(oem_file, "oem secret", None, 2**8)  # not allow-listed yet
    monkeypatch.setenv("THINGBID_OEM_PASSWORD", "oem secret")
    agent = make_agent("late", "fridge", oem_key_file=str(oem_file))
    fund_embedded(chain, agent)
    agent.attach_chain(chain, manifest)
    result = agent.enable()
    assert result["action"] == "checked_in" and result["attestation"].startswith("failed: ")
    assert reg.is_active(agent.device_id) and not reg.is_attested(agent.device_id)
    assert agent.state.registration().checked_in
    reg.set_oem(oem)  # governance allow-lists the OEM later
    assert agent.sync_registration() == {"action": "unchanged", "td_hash": result["td_hash"],
                                         "attestation": "attested"}
    assert reg.is_attested(agent.device_id)
    assert agent.sync_registration()["attestation"] == "attested"  # and not sent twice
    assert [ev.name for ev in reg.events()].count("DeviceAttested") == 1


def test_unattested_without_an_oem_key(agent_on_chain):
    agent, reg = agent_on_chain
    agent.enable()
    assert not reg.is_attested(agent.device_id)


def test_agent_refuses_to_attest_sell_or_deliver_for_a_record_it_does_not_own(deployed, make_agent, tmp_path,
                                                                              monkeypatch):
    """Issue 12 case 2: the registry lists the device under another account (here: handed to it);
    the agent says so in one line and neither attests, nor opens, settles or delivers for it."""
    from device_agent.errors import NotRecordOwnerError
    from device_agent.house import HousePort
    from device_agent.identity import _fast_eth_keystore
    from device_agent.selling import Seller

    chain, manifest = deployed
    reg = RegistryClient.from_manifest(chain, manifest)
    oem_file = tmp_path / "oem-foreign.json"
    oem = _fast_eth_keystore(oem_file, "oem secret", None, 2**8)
    monkeypatch.setenv("THINGBID_OEM_PASSWORD", "oem secret")
    agent = make_agent("foreign", "fridge")
    fund_embedded(chain, agent)
    agent.attach_chain(chain, manifest)
    agent.enable()
    other = chain.accounts[7]
    reg.transfer(agent.device_id, other, sender=agent.address)
    reg.set_oem(oem)
    agent.config.oem_key_file = str(oem_file)
    before = len(reg.events())
    with pytest.raises(NotRecordOwnerError) as info:
        agent.sync_registration()
    msg = str(info.value)
    assert "\n" not in msg and other in msg and agent.address in msg and "refusing to attest, sell or deliver" in msg
    assert not reg.is_attested(agent.device_id) and len(reg.events()) == before
    out = Seller(agent, HousePort.from_manifest(chain, manifest, agent)).tick()
    assert out["refused"] == msg and out["opened"] is None and out["settled"] == out["delivered"] == []
    assert len(reg.events()) == before
