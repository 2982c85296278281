"""Fixtures for the frontend: real chains with contracts and devices (built once per module and
reverted to a snapshot after every test), the app, signed-in users."""

from __future__ import annotations

import pytest

from frontend import create_app
from frontend.services import Services
from tests.frontend.fe_helpers import create_user


def _snapshot_per_test(chain):
    snap = chain.tester.take_snapshot()
    yield
    chain.tester.revert_to_snapshot(snap)


@pytest.fixture(scope="module")
def module_chain():
    from exchange.chain.connect import embedded_chain

    c = embedded_chain()
    yield c
    c.close()


@pytest.fixture(scope="module")
def deployed_m(module_chain, tmp_path_factory):
    from exchange.chain.deploy import deploy_all

    manifest, _ = deploy_all(module_chain, tmp_path_factory.mktemp("dep") / "deployments")
    return module_chain, manifest


@pytest.fixture
def deployed(deployed_m):
    yield from _snapshot_per_test(deployed_m[0])


@pytest.fixture
def app(deployed, deployed_m, tmp_path):
    chain, manifest = deployed_m
    services = Services(chain, manifest, f"sqlite:///{tmp_path / 'catalog.db'}", "http://127.0.0.1:9",
                        tmp_path / "keystores", dev_faucet=True)
    # Bound to loopback as serve.py runs it: the local keystore mode is on (its throttling tests
    # pose as clients at other addresses).
    return create_app({"THINGBID_SERVICES": services, "TESTING": True, "KEYSTORE_SCRYPT_N": 2**12, "LOGIN_FAILURES_PER_WINDOW": 3,
                       "LOGIN_FAILURES_PER_USER_WINDOW": 6, "BIND_HOST": "127.0.0.1"})


@pytest.fixture
def alice(app):
    c = app.test_client()
    r = create_user(c, "alice")
    assert r.status_code == 302, r.get_data(as_text=True)
    return c


@pytest.fixture(scope="module")
def world_m(module_chain, tmp_path_factory):
    """30 devices (2 with hostile markup in their TD) checked in and indexed; no auctions."""
    from frontend.devworld import build_world, sqlite_url

    tmp = tmp_path_factory.mktemp("world")
    return build_world(module_chain, tmp / "deployments", sqlite_url(tmp), n_devices=30, hostile=2,
                       open_auctions=False)


@pytest.fixture
def world(world_m):
    yield from _snapshot_per_test(world_m.chain)


@pytest.fixture
def world_app(world_m, world, tmp_path):
    services = Services(world_m.chain, world_m.manifest, world_m.database_url, "http://127.0.0.1:9",
                        tmp_path / "keystores", dev_faucet=True)
    return create_app({"THINGBID_SERVICES": services, "TESTING": True, "KEYSTORE_SCRYPT_N": 2**12})


@pytest.fixture(scope="module")
def auction_world_m(module_chain, tmp_path_factory):
    """12 devices with open English auctions (1 hour), indexed."""
    from frontend.devworld import build_world, sqlite_url

    tmp = tmp_path_factory.mktemp("auctions")
    return build_world(module_chain, tmp / "deployments", sqlite_url(tmp), n_devices=12, hostile=0,
                       open_auctions=True)


@pytest.fixture
def auction_world(auction_world_m):
    yield from _snapshot_per_test(auction_world_m.chain)


@pytest.fixture
def auction_app(auction_world_m, auction_world, tmp_path):
    w = auction_world_m
    services = Services(w.chain, w.manifest, w.database_url, "http://127.0.0.1:9", tmp_path / "keystores",
                        dev_faucet=True)
    return create_app({"THINGBID_SERVICES": services, "TESTING": True, "KEYSTORE_SCRYPT_N": 2**12})


@pytest.fixture(scope="module")
def sealed_world_m(module_chain, tmp_path_factory):
    """4 devices selling in sealed-bid second-price auctions (1 h bidding, 1 h reveal)."""
    from frontend.devworld import build_world, sqlite_url

    tmp = tmp_path_factory.mktemp("sealed")
    return build_world(module_chain, tmp / "deployments", sqlite_url(tmp), n_devices=4, hostile=0, seed=9,
                       mechanism="sealed-second-price")


@pytest.fixture
def sealed_app(sealed_world_m, tmp_path):
    w = sealed_world_m
    snap = w.chain.tester.take_snapshot()
    services = Services(w.chain, w.manifest, w.database_url, "http://127.0.0.1:9", tmp_path / "keystores",
                        dev_faucet=True)
    yield create_app({"THINGBID_SERVICES": services, "TESTING": True, "KEYSTORE_SCRYPT_N": 2**12})
    w.chain.tester.revert_to_snapshot(snap)
