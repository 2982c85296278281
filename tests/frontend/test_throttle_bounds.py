"""The sign-in and account-creation throttles (exchange.ratelimit) hold a bounded number of keys:
guessing with ever new user names from ever new addresses cannot grow the server's memory, and
does not free a guesser who is already stopped."""

from __future__ import annotations

import pytest

from frontend import create_app
from frontend.services import Services
from tests.frontend.fe_helpers import csrf_of

MAX_KEYS = 20
LIMITERS = ("thingbid.login_limiter", "thingbid.login_user_limiter", "thingbid.create_limiter")


@pytest.fixture
def small_app(deployed, deployed_m, tmp_path):
    chain, manifest = deployed_m
    services = Services(chain, manifest, f"sqlite:///{tmp_path / 'catalog.db'}", "http://127.0.0.1:9",
                        tmp_path / "keystores")
    return create_app({"THINGBID_SERVICES": services, "TESTING": True, "KEYSTORE_SCRYPT_N": 2**12,
                       "LOGIN_FAILURES_PER_WINDOW": 3, "BIND_HOST": "127.0.0.1", "RATE_LIMIT_MAX_KEYS": MAX_KEYS})


def _guess(app, addr: str, username: str):
    c = app.test_client()
    c.environ_base["REMOTE_ADDR"] = addr
    return c.post("/account/signin", data={"csrf_token": csrf_of(c), "username": username, "password": "wrong-one"})


def test_guessing_with_ever_new_names_and_addresses_keeps_the_throttles_bounded(small_app):
    for i in range(4 * MAX_KEYS):
        assert _guess(small_app, f"198.51.100.{i + 1}", f"user{i}").status_code == 400
    for name in LIMITERS:
        assert len(small_app.extensions[name]) <= MAX_KEYS, name


def test_a_stopped_guesser_stays_stopped_through_a_flood_of_new_names(small_app):
    assert [_guess(small_app, "203.0.113.7", "alice").status_code for _ in range(3)] == [400, 400, 400]
    for i in range(4 * MAX_KEYS):
        _guess(small_app, f"198.51.100.{i + 1}", f"user{i}")
    r = _guess(small_app, "203.0.113.7", "alice")
    assert r.status_code == 429 and "too many failed sign-ins" in r.get_data(as_text=True)
