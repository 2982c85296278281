"""Sign-in by keystore, CSRF, cookies, headers, login throttling, size limits."""

from __future__ import annotations

import pytest

from tests.frontend.fe_helpers import PASSWORD, create_user, csrf_of


def test_every_page_sends_a_strict_csp_without_inline_script(app):
    r = app.test_client().get("/account/signin")
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "<script>" not in r.get_data(as_text=True)  # only <script src=...>
    assert r.headers["X-Frame-Options"] == "DENY"


def test_session_cookie_is_httponly_and_samesite(app):
    c = app.test_client()
    r = create_user(c, "carol")
    cookie = r.headers.get("Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    # The cookie carries a random session id only: no address and no key material.
    addr = c.get("/account/whoami.json").get_json()["address"]
    assert addr[2:].lower() not in cookie.lower()


def test_post_without_csrf_token_is_refused_and_changes_nothing(app):
    c = app.test_client()
    c.get("/account/create")
    r = c.post("/account/create", data={"username": "mallory", "password": PASSWORD, "confirm": PASSWORD})
    assert r.status_code == 400 and "CSRF" in r.get_data(as_text=True)
    assert not (app.extensions["thingbid.services"].keystore_dir / "mallory.json").exists()


def test_post_with_another_sessions_csrf_token_is_refused(app, alice):
    other = app.test_client()
    stolen = csrf_of(other)
    r = alice.post("/account/signout", data={"csrf_token": stolen})
    assert r.status_code == 400
    assert alice.get("/account/whoami.json").get_json()["signed_in"] is True


def test_create_sign_out_and_sign_in_again(app):
    c = app.test_client()
    assert create_user(c, "dave").status_code == 302
    who = c.get("/account/whoami.json").get_json()
    assert who["signed_in"] and who["address"].startswith("0x")
    vault = app.extensions["thingbid.vault"]
    before = len(vault)
    c.post("/account/signout", data={"csrf_token": csrf_of(c)})
    assert len(vault) == before - 1  # the key is forgotten server-side
    assert c.get("/account/whoami.json").get_json()["signed_in"] is False
    r = c.post("/account/signin", data={"csrf_token": csrf_of(c), "username": "dave", "password": PASSWORD})
    assert r.status_code == 302
    assert c.get("/account/whoami.json").get_json()["address"] == who["address"]


def test_keystore_on_disk_is_encrypted(app, alice):
    ks = (app.extensions["thingbid.services"].keystore_dir / "alice.json").read_text()
    addr = alice.get("/account/whoami.json").get_json()["address"]
    assert '"crypto"' in ks and '"ciphertext"' in ks and PASSWORD not in ks
    assert addr.startswith("0x")


def test_import_private_key_gives_the_same_address(app):
    from eth_account import Account

    acct = Account.create()
    c = app.test_client()
    r = create_user(c, "erin", mode="private_key", private_key=acct.key.hex())
    assert r.status_code == 302
    assert c.get("/account/whoami.json").get_json()["address"] == acct.address


def test_wrong_password_is_refused_then_rate_limited(app, alice):
    c = app.test_client()
    for _ in range(3):
        r = c.post("/account/signin", data={"csrf_token": csrf_of(c), "username": "alice", "password": "wrong-password"})
        assert r.status_code == 400 and "wrong password" in r.get_data(as_text=True)
    r = c.post("/account/signin", data={"csrf_token": csrf_of(c), "username": "alice", "password": PASSWORD})
    assert r.status_code == 429 and "too many" in r.get_data(as_text=True)
    assert c.get("/account/whoami.json").get_json()["signed_in"] is False


@pytest.mark.parametrize("username,password,confirm,message", [
    ("", PASSWORD, PASSWORD, "username"),
    ("x", PASSWORD, PASSWORD, "username"),
    ("<script>", PASSWORD, PASSWORD, "username"),
    ("a" * 200, PASSWORD, PASSWORD, "username"),
    ("frank", "short", "short", "at least 8"),
    ("frank", PASSWORD, PASSWORD + "x", "does not match"),
    ("frank", "", "", "at least 8"),
])
def test_bad_account_form_values_give_a_message_and_create_nothing(app, username, password, confirm, message):
    c = app.test_client()
    r = c.post("/account/create", data={"csrf_token": csrf_of(c, "/account/create"), "username": username,
                                        "password": password, "confirm": confirm, "mode": "new"})
    assert r.status_code == 400 and message in r.get_data(as_text=True)
    assert list(app.extensions["thingbid.services"].keystore_dir.glob("*.json")) == []


@pytest.mark.parametrize("key", ["", "zz", "0x" + "0" * 64, "12" * 33, "-1"])
def test_bad_private_key_import_is_refused(app, key):
    c = app.test_client()
    r = create_user(c, "gina", mode="private_key", private_key=key)
    assert r.status_code == 400 and "private_key" in r.get_data(as_text=True)


def test_taken_username_is_refused(app, alice):
    r = create_user(app.test_client(), "alice")
    assert r.status_code == 400 and "taken" in r.get_data(as_text=True)


def test_oversized_request_is_refused(app):
    c = app.test_client()
    r = c.post("/account/signin", data={"csrf_token": csrf_of(c), "username": "a" * 400_000, "password": "x"})
    assert r.status_code == 413


def test_pages_need_sign_in(app):
    c = app.test_client()
    for path in ("/bids/", "/auctions/", "/keys/", "/wallet/", "/streams/", "/account/"):
        r = c.get(path)
        assert r.status_code == 302 and "/account/signin" in r.headers["Location"]


def test_sign_in_never_redirects_off_site(app, alice):
    c = app.test_client()
    r = c.post("/account/signin", data={"csrf_token": csrf_of(c), "username": "alice", "password": PASSWORD,
                                        "next": "//evil.example/x"})
    assert r.status_code == 302 and r.headers["Location"].startswith("/catalog")


@pytest.mark.parametrize("to,amount,message", [
    ("not-an-address", "5", "tangle address"),
    ("ab" * 32, "-5", "amount"),
    ("ab" * 32, "abc", "amount"),
    ("ab" * 32, "", "required"),
    ("ab" * 32, "10" * 20, "amount"),
    ("<script>", "5", "tangle address"),
])
def test_bad_tangle_send_values_give_a_message(app, alice, to, amount, message):
    r = alice.post("/wallet/tangle/send", data={"csrf_token": csrf_of(alice, "/account/"), "to": to, "amount": amount})
    assert r.status_code == 400 and message in r.get_data(as_text=True)
    assert "<script>" not in r.get_data(as_text=True)


@pytest.mark.parametrize("device_id,span,message", [
    ("0x12", "5", "device_id"),
    ("0x" + "zz" * 32, "5", "device_id"),
    ("0x" + "ab" * 32, "0", "span"),
    ("0x" + "ab" * 32, "-1", "span"),
    ("0x" + "ab" * 32, "many", "span"),
    ("0x" + "ab" * 32, "99999999999", "span"),
])
def test_bad_stream_purchase_values_give_a_message(app, alice, device_id, span, message):
    r = alice.post("/streams/buy", data={"csrf_token": csrf_of(alice, "/account/"), "device_id": device_id,
                                         "stream": "fridge", "span": span})
    assert r.status_code == 400 and message in r.get_data(as_text=True)
    assert app.extensions["thingbid.streams"].of(alice.get("/account/whoami.json").get_json()["address"]) == []


def test_import_keystore_file_with_its_password(app):
    import io
    import json

    from eth_account import Account

    acct = Account.create()
    data = json.dumps(Account.encrypt(acct.key, PASSWORD, kdf="scrypt", iterations=2**12)).encode()
    c = app.test_client()
    r = c.post("/account/create", data={"csrf_token": csrf_of(c, "/account/create"), "username": "ivan",
                                        "password": PASSWORD, "confirm": PASSWORD, "mode": "keystore",
                                        "keystore": (io.BytesIO(data), "key.json")},
               content_type="multipart/form-data")
    assert r.status_code == 302
    assert c.get("/account/whoami.json").get_json()["address"] == acct.address


@pytest.mark.parametrize("content", [b"not json", b"{}", b'{"crypto": 1}'])
def test_import_of_a_broken_keystore_file_is_refused(app, content):
    import io

    c = app.test_client()
    r = c.post("/account/create", data={"csrf_token": csrf_of(c, "/account/create"), "username": "judy",
                                        "password": PASSWORD, "confirm": PASSWORD, "mode": "keystore",
                                        "keystore": (io.BytesIO(content), "key.json")},
               content_type="multipart/form-data")
    assert r.status_code == 400 and "keystore" in r.get_data(as_text=True)
    assert not (app.extensions["thingbid.services"].keystore_dir / "judy.json").exists()


def test_account_creation_is_rate_limited_per_client(deployed_m, deployed, tmp_path):
    from frontend import create_app
    from frontend.services import Services

    chain, manifest = deployed_m
    app = create_app({"THINGBID_SERVICES": Services(chain, manifest, "sqlite://", "http://127.0.0.1:9",
                                                    tmp_path / "ks"),
                      "TESTING": True, "KEYSTORE_SCRYPT_N": 2**12, "ACCOUNT_CREATIONS_PER_WINDOW": 2})
    c = app.test_client()
    assert create_user(c, "one").status_code == 302
    assert create_user(c, "x").status_code == 400  # a refused attempt counts too
    r = create_user(c, "three")
    assert r.status_code == 429 and not (tmp_path / "ks" / "three.json").exists()
