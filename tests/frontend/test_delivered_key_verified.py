"""Issue 12 case 4 in the web app: the keys page and the data viewer check every opened key
against the device's registered token-signing key and the sale, and say in one line when it fails."""

from __future__ import annotations

import html as htmlmod

import pytest

from exchange.crypto import generate_ed25519
from tests.frontend.fe_helpers import build_text_world, csrf_of, deliver_key


@pytest.fixture(scope="module")
def key_world_m(module_chain, tmp_path_factory):
    return build_text_world(module_chain, tmp_path_factory.mktemp("keys"))


@pytest.fixture
def key_app(key_world_m, tmp_path):
    from frontend import create_app
    from frontend.services import Services

    w = key_world_m
    snap = w.chain.tester.take_snapshot()
    services = Services(w.chain, w.manifest, w.database_url, "http://127.0.0.1:9", tmp_path / "keystores",
                        dev_faucet=True)
    yield create_app({"THINGBID_SERVICES": services, "TESTING": True, "KEYSTORE_SCRYPT_N": 2**12})
    w.chain.tester.revert_to_snapshot(snap)


def test_a_key_not_signed_by_the_registered_device_key_is_shown_as_failed_and_never_served(key_world_m, key_app):
    from tests.frontend.test_hostile_text import signed_in_with_bids

    world = key_world_m
    alice, _job = signed_in_with_bids(key_app, world)
    good, forged = world.devices[0], world.devices[1]
    world.chain.time_travel(3700)
    r = alice.post("/auctions/settle", data={"csrf_token": csrf_of(alice, "/auctions/"),
                                              "auction_id": [str(d.auction_id) for d in world.devices]})
    assert r.status_code == 302
    deliver_key(world, good, good.auction_id)
    deliver_key(world, forged, forged.auction_id, token_key=generate_ed25519()[0])  # a token the device did not sign
    page = htmlmod.unescape(alice.get("/keys/").get_data(as_text=True))
    assert f"the key delivered for auction {forged.auction_id} does not verify against the device's registered key" in page
    assert f"auction {good.auction_id} does not verify" not in page
    assert alice.get(f"/keys/{good.auction_id}/key.txt").get_data(as_text=True).startswith("tb1.")
    assert alice.get(f"/keys/{forged.auction_id}/key.txt").status_code == 404
    r = alice.get(f"/keys/{forged.auction_id}/data.json")
    assert r.status_code == 409 and "does not verify" in r.get_json()["error"]
