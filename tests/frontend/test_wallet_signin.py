"""Sign-In with Ethereum (issue 18): a real secp256k1 key signs EIP-4361 messages; the server keeps an address only.

Messages are written out field by field here (the EIP-4361 text format), not by the code under test,
so a verifier that skipped a check would let one of the bad messages in.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from frontend import create_app
from frontend.services import Services
from frontend.wallet_auth import NonceStore, is_loopback_host, keystore_mode_allowed
from tests.frontend.fe_helpers import PASSWORD, create_user, csrf_of
from tests.frontend.siwe_helpers import OTHER, WALLET, eip4361, good_fields, post_verify, sign, start


def test_nonce_names_this_site_and_its_chain(app, deployed_m):
    site = app.test_client().get("/siwe/nonce.json").get_json()
    assert site["domain"] == "localhost" and site["uri"] == "http://localhost/"
    assert site["chain_id"] == deployed_m[0].chain_id
    assert len(site["nonce"]) >= 8 and site["nonce"].isalnum()


def test_wallet_sign_in_keeps_an_address_and_no_key(app):
    c = app.test_client()
    site, token = start(c)
    msg = eip4361(**good_fields(site))
    r = post_verify(c, token, msg, sign(WALLET, msg))
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"address": WALLET.address, "signed_in": True}
    assert c.get("/account/whoami.json").get_json() == {"signed_in": True, "address": WALLET.address,
                                                         "mode": "wallet"}
    vault = app.extensions["thingbid.vault"]
    (user,) = vault._users.values()
    assert user.account is None and user.x25519_private is None and user.chain is None
    assert user.tangle_wallet is None and user.address == WALLET.address
    page = c.get("/account/").get_data(as_text=True)
    assert WALLET.address in page and "this server holds no key" in page


def test_a_wallet_session_cannot_make_the_server_sign(app):
    c = app.test_client()
    site, token = start(c)
    msg = eip4361(**good_fields(site))
    assert post_verify(c, token, msg, sign(WALLET, msg)).status_code == 200
    token = csrf_of(c, "/wallet/")
    r = c.post("/wallet/deposit", data={"csrf_token": token, "amount": "1"})
    assert r.status_code == 400
    assert "signs with your browser wallet" in r.get_data(as_text=True)


def _bad(site: dict, case: str) -> tuple[str, str]:
    now = datetime.now(UTC)
    signer = WALLET
    if case == "nonce":
        fields = good_fields(site, nonce="a" * 32)
    elif case == "expired":
        fields = good_fields(site, issued=now - timedelta(minutes=10), expires=now - timedelta(seconds=1))
    elif case == "domain":
        fields = good_fields(site, domain="evil.example")
    elif case == "uri":
        fields = good_fields(site, uri="https://evil.example/")
    elif case == "chain":
        fields = good_fields(site, chain_id=site["chain_id"] + 1)
    elif case == "expiry":
        fields = good_fields(site, expires=None)
    elif case == "lifetime":
        fields = good_fields(site, expires=now + timedelta(days=30))
    elif case == "issued_at":
        fields = good_fields(site, issued=now + timedelta(hours=1), expires=now + timedelta(hours=1, minutes=5))
    elif case == "signature":
        fields, signer = good_fields(site), OTHER
    else:
        raise AssertionError(case)
    msg = eip4361(**fields)
    return msg, sign(signer, msg)


@pytest.mark.parametrize("case,reason,words", [
    ("nonce", "nonce", "nonce"),
    ("expired", "expired", "expired"),
    ("domain", "domain", "evil.example"),
    ("uri", "uri", "is not on this site"),
    ("chain", "chain", "switch your wallet's network"),
    ("expiry", "expiry", "no Expiration Time"),
    ("lifetime", "expiry", "may live at most"),
    ("issued_at", "issued_at", "in the future"),
    ("signature", "signature", "does not match"),
])
def test_bad_sign_in_messages_are_refused_with_a_reason(app, case, reason, words):
    c = app.test_client()
    site, token = start(c)
    msg, sig = _bad(site, case)
    r = post_verify(c, token, msg, sig)
    assert r.status_code == 400
    body = r.get_json()
    assert body["reason"] == reason and words in body["error"]
    assert c.get("/account/whoami.json").get_json()["signed_in"] is False
    assert len(app.extensions["thingbid.vault"]) == 0


@pytest.mark.parametrize("body", [
    None, [], {"message": "", "signature": "0x"}, {"message": "hello", "signature": "0x00"},
    {"message": "x" * 10_000, "signature": "0x00"}, {"message": 5, "signature": None},
])
def test_malformed_sign_in_bodies_get_a_json_reason(app, body):
    c = app.test_client()
    _site, token = start(c)
    r = c.post("/siwe/verify", json=body, headers={"X-CSRF-Token": token})
    assert r.status_code == 400 and r.get_json()["reason"] == "malformed"


def test_failed_wallet_sign_ins_are_throttled_per_client(app):
    c = app.test_client()
    for _ in range(3):  # LOGIN_FAILURES_PER_WINDOW in these tests
        site, token = start(c)
        msg, sig = _bad(site, "signature")
        assert post_verify(c, token, msg, sig).get_json()["reason"] == "signature"
    site, token = start(c)
    msg = eip4361(**good_fields(site))
    r = post_verify(c, token, msg, sign(WALLET, msg))  # even a good one waits now
    assert r.status_code == 429 and r.get_json()["reason"] == "rate"


def test_a_nonce_signs_in_once_only(app):
    c = app.test_client()
    site, token = start(c)
    msg = eip4361(**good_fields(site))
    sig = sign(WALLET, msg)
    assert post_verify(c, token, msg, sig).status_code == 200
    other = app.test_client()  # the same message replayed from another browser
    r = post_verify(other, csrf_of(other), msg, sig)
    assert r.status_code == 400 and r.get_json()["reason"] == "nonce"


def test_a_nonce_issued_to_another_browser_does_not_sign_in_here(app):
    victim, attacker = app.test_client(), app.test_client()
    site, _ = start(victim)
    _, token = start(attacker)
    msg = eip4361(**good_fields(site))
    r = post_verify(attacker, token, msg, sign(WALLET, msg))
    assert r.status_code == 400 and r.get_json()["reason"] == "nonce"


def test_a_public_url_decides_the_domain_whatever_the_host_header(deployed_m, deployed, tmp_path):
    chain, manifest = deployed_m
    app = create_app({"THINGBID_SERVICES": Services(chain, manifest, "sqlite://", "http://127.0.0.1:9", tmp_path / "ks"),
                      "TESTING": True, "PUBLIC_URL": "https://bids.example.com",
                      "SERVER_NAME": "evil.example"})  # the Host an attacker relaying a victim's sign-in sends
    c = app.test_client()
    assert "evil.example" in c.get("/account/signin").request.host
    token = csrf_of(c)
    site = c.get("/siwe/nonce.json").get_json()
    assert site["domain"] == "bids.example.com"
    msg = eip4361(**good_fields(site, domain="evil.example", uri="http://evil.example/"))
    r = post_verify(c, token, msg, sign(WALLET, msg))
    assert r.status_code == 400 and r.get_json()["reason"] == "domain"


def test_sign_in_without_csrf_token_is_refused(app):
    c = app.test_client()
    site, _ = start(c)
    msg = eip4361(**good_fields(site))
    r = c.post("/siwe/verify", json={"message": msg, "signature": sign(WALLET, msg)},
               headers={"Accept": "application/json"})
    assert r.status_code == 400 and "CSRF" in r.get_json()["error"]


# ---- the local keystore: loopback only ------------------------------------------------------------

def _app(deployed_m, tmp_path, **config):
    chain, manifest = deployed_m
    return create_app({"THINGBID_SERVICES": Services(chain, manifest, "sqlite://", "http://127.0.0.1:9", tmp_path / "ks"),
                       "TESTING": True, "KEYSTORE_SCRYPT_N": 2**12, **config})


@pytest.mark.parametrize("config,environ", [
    ({"BIND_HOST": "0.0.0.0"}, {}),
    ({"BIND_HOST": "192.0.2.10"}, {}),
    ({"BIND_HOST": "127.0.0.1", "PUBLIC_URL": "https://bids.example.com"}, {}),
    ({}, {"REMOTE_ADDR": "203.0.113.5"}),
    # A reverse proxy on this machine passing the public name (the test client's Host is SERVER_NAME).
    ({"BIND_HOST": "127.0.0.1", "SERVER_NAME": "bids.example.com"}, {}),
])
def test_keystore_mode_is_refused_off_loopback(deployed_m, deployed, tmp_path, config, environ):
    app = _app(deployed_m, tmp_path, **config)
    c = app.test_client()
    c.environ_base.update(environ)
    page = c.get("/account/signin")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="keystore-off"' in html and 'id="signin-form"' not in html and 'id="wallet-signin"' in html
    r = create_user(c, "mallory")
    assert r.status_code == 403 and "only for a frontend bound to loopback" in r.get_data(as_text=True)
    r = c.post("/account/signin", data={"csrf_token": csrf_of(c), "username": "mallory", "password": PASSWORD},
               headers={"Accept": "application/json"})
    assert r.status_code == 403 and "Sign in with your wallet" in r.get_json()["error"]
    assert c.get("/account/create").status_code == 403
    assert not (tmp_path / "ks").exists()


@pytest.mark.parametrize("headers", [
    # nginx's bare ``proxy_pass http://127.0.0.1:5000`` sends Host 127.0.0.1:5000 from 127.0.0.1: only the
    # browser's own Origin/Referer, or the proxy's forwarding headers, tell the request came from elsewhere.
    {"Origin": "https://bids.example.com"},
    {"Referer": "https://bids.example.com/account/signin"},
    {"X-Forwarded-For": "203.0.113.5"},
    {"Forwarded": "for=203.0.113.5;host=bids.example.com"},
    {"X-Forwarded-Host": "bids.example.com"},
    {"X-Real-IP": "203.0.113.5"},
])
def test_keystore_mode_is_refused_through_a_proxy_on_loopback(deployed_m, deployed, tmp_path, headers):
    app = _app(deployed_m, tmp_path, BIND_HOST="127.0.0.1")
    c = app.test_client()
    c.environ_base.update({"HTTP_HOST": "127.0.0.1:5000"})
    html = c.get("/account/signin", headers=headers).get_data(as_text=True)
    assert 'id="keystore-off"' in html and 'id="signin-form"' not in html
    token = csrf_of(c)
    r = c.post("/account/create", headers=headers, data={"csrf_token": token, "username": "mallory", "password": PASSWORD,
                                                         "confirm": PASSWORD, "mode": "new"})
    assert r.status_code == 403 and "only for a frontend bound to loopback" in r.get_data(as_text=True)
    r = c.post("/account/signin", data={"csrf_token": token, "username": "mallory", "password": PASSWORD},
               headers={"Accept": "application/json", **headers})
    assert r.status_code == 403 and "Sign in with your wallet" in r.get_json()["error"]
    assert not (tmp_path / "ks").exists()


def test_keystore_mode_on_loopback_with_the_browsers_own_origin(deployed_m, deployed, tmp_path):
    """The control of the proxy test: a browser on this machine sends a loopback Origin and Referer."""
    c = _app(deployed_m, tmp_path, BIND_HOST="127.0.0.1").test_client()
    c.environ_base.update({"HTTP_HOST": "127.0.0.1:5000"})
    own = {"Origin": "http://127.0.0.1:5000", "Referer": "http://localhost:5000/account/create"}
    assert 'id="signin-form"' in c.get("/account/signin", headers=own).get_data(as_text=True)
    token = csrf_of(c, "/account/create")
    r = c.post("/account/create", headers=own, data={"csrf_token": token, "username": "local", "password": PASSWORD,
                                                     "confirm": PASSWORD, "mode": "new"})
    assert r.status_code == 302
    assert c.get("/account/whoami.json").get_json()["mode"] == "keystore"


def test_keystore_mode_works_on_loopback(deployed_m, deployed, tmp_path):
    c = _app(deployed_m, tmp_path, BIND_HOST="127.0.0.1").test_client()
    assert 'id="signin-form"' in c.get("/account/signin").get_data(as_text=True)
    assert create_user(c, "local").status_code == 302
    assert c.get("/account/whoami.json").get_json()["mode"] == "keystore"


@pytest.mark.parametrize("host,loopback", [
    ("127.0.0.1", True), ("127.8.9.1", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("app.localhost", True), ("0.0.0.0", False), ("::", False), ("192.168.1.2", False), ("example.com", False),
    ("localhost.example.com", False), ("", False), (None, False),
])
def test_loopback_hosts(host, loopback):
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize("bind,public,remote,host,allowed", [
    ("127.0.0.1", None, "127.0.0.1", "127.0.0.1:5000", True),
    ("127.0.0.1", "http://localhost:5000", "127.0.0.1", "localhost:5000", True),
    (None, None, "127.0.0.1", "localhost", True),
    ("0.0.0.0", None, "127.0.0.1", "127.0.0.1:5000", False),
    ("127.0.0.1", "https://bids.example.com", "127.0.0.1", "127.0.0.1", False),
    (None, None, "198.51.100.1", "localhost", False),
    ("127.0.0.1", None, "127.0.0.1", "bids.example.com", False),
    ("127.0.0.1", None, "127.0.0.1", "[::1]:5000", True),
])
def test_keystore_mode_rule(bind, public, remote, host, allowed):
    assert keystore_mode_allowed(bind, public, remote, host) is allowed


def test_nonces_are_single_use_and_expire():
    now = [0.0]
    store = NonceStore(ttl_s=10, limit=3, clock=lambda: now[0])
    a = store.issue()
    assert store.take(a) and not store.take(a)
    b = store.issue()
    now[0] = 11
    assert not store.take(b)
    c = [store.issue() for _ in range(4)]  # over the limit: the oldest goes
    assert not store.take(c[0]) and all(store.take(n) for n in c[1:])
    assert not store.take("never-issued")


def test_serving_off_loopback_needs_a_public_url(capsys, monkeypatch):
    from frontend.serve import main

    monkeypatch.delenv("THINGBID_PUBLIC_URL", raising=False)
    assert main(["--host", "0.0.0.0", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "give --public-url" in err and len(err.strip().splitlines()) == 1
