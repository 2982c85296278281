"""Sign-in by keystore, CSRF, cookies, headers, login throttling, size limits."""

from __future__ import annotations

import html

import pytest

from tests.frontend.fe_helpers import PASSWORD, create_user, csrf_of, error_messages, input_attrs


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
        assert r.status_code == 400 and "The password is wrong" in r.get_data(as_text=True)
    r = c.post("/account/signin", data={"csrf_token": csrf_of(c), "username": "alice", "password": PASSWORD})
    assert r.status_code == 429 and "too many" in r.get_data(as_text=True)
    assert c.get("/account/whoami.json").get_json()["signed_in"] is False


def _client_at(app, addr):
    c = app.test_client()
    c.environ_base["REMOTE_ADDR"] = addr
    return c


def _guess(c, username="alice", password="wrong-password"):
    return c.post("/account/signin", data={"csrf_token": csrf_of(c), "username": username, "password": password})


def test_a_guesser_elsewhere_does_not_lock_the_user_out(app, alice):
    attacker = _client_at(app, "203.0.113.7")
    for _ in range(3):
        assert _guess(attacker).status_code == 400
    assert _guess(attacker, password=PASSWORD).status_code == 429  # the guesser is stopped ...
    user = _client_at(app, "198.51.100.2")
    assert _guess(user, password=PASSWORD).status_code == 302  # ... and Alice still signs in from her machine


def test_guessing_spread_over_many_clients_is_bounded_per_user(app, alice):
    for i in range(3):  # 2 guesses from each of 3 addresses: 6, the per-user limit in these tests
        c = _client_at(app, f"203.0.113.{i + 1}")
        assert [_guess(c).status_code for _ in range(2)] == [400, 400]
    fresh = _client_at(app, "203.0.113.99")
    r = _guess(fresh, password=PASSWORD)
    assert r.status_code == 429 and "too many" in r.get_data(as_text=True)


@pytest.mark.parametrize("username,password,confirm,message", [
    ("", PASSWORD, PASSWORD, "The user name must be 3-32 characters"),
    ("x", PASSWORD, PASSWORD, "The user name must be 3-32 characters"),
    ("<script>", PASSWORD, PASSWORD, "The user name must be 3-32 characters"),
    ("a" * 200, PASSWORD, PASSWORD, "The user name must be 3-32 characters"),
    ("frank", "short", "short", "The password must be at least 8 characters"),
    ("frank", PASSWORD, PASSWORD + "x", "The repeated password does not match the password"),
    ("frank", "", "", "The password must be at least 8 characters"),
])
def test_bad_account_form_values_give_a_message_and_create_nothing(app, username, password, confirm, message):
    c = app.test_client()
    r = c.post("/account/create", data={"csrf_token": csrf_of(c, "/account/create"), "username": username,
                                        "password": password, "confirm": confirm, "mode": "new"})
    assert r.status_code == 400 and message in html.unescape(r.get_data(as_text=True))
    assert list(app.extensions["thingbid.services"].keystore_dir.glob("*.json")) == []


@pytest.mark.parametrize("key", ["", "zz", "0x" + "0" * 64, "12" * 33, "-1"])
def test_bad_private_key_import_is_refused(app, key):
    c = app.test_client()
    r = create_user(c, "gina", mode="private_key", private_key=key)
    assert r.status_code == 400 and "The private key " in r.get_data(as_text=True)


def test_taken_username_is_refused(app, alice):
    r = create_user(app.test_client(), "alice")
    assert r.status_code == 400 and "The user name is taken" in r.get_data(as_text=True)


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
    ("not-an-address", "5", "The recipient is not a tangle address"),
    ("ab" * 32, "-5", "The amount must be between 1 and"),
    ("ab" * 32, "abc", "The amount must be a whole number, not 'abc'"),
    ("ab" * 32, "", "The amount is required"),
    ("ab" * 32, "10" * 20, "The amount must be "),
    ("<script>", "5", "The recipient is not a tangle address"),
])
def test_bad_tangle_send_values_give_a_message_on_the_wallet_page_keeping_the_input(app, alice, to, amount, message):
    r = alice.post("/wallet/tangle/send", data={"csrf_token": csrf_of(alice, "/account/"), "to": to, "amount": amount})
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and any(e.startswith(message) for e in error_messages(page)), error_messages(page)
    assert "<script>" not in page
    assert input_attrs(page, "to", "tangle-send-form")["value"] == to  # typed values kept (escaped)
    assert input_attrs(page, "amount", "tangle-send-form")["value"] == amount
    bad = "to" if message.startswith("The recipient") else "amount"
    assert input_attrs(page, bad, "tangle-send-form").get("aria-invalid") == "true"
    assert "aria-invalid" not in input_attrs(page, "amount", "deposit-form")  # other forms untouched


@pytest.mark.parametrize("device_id,span,message", [
    ("0x12", "5", "The device id must be 0x followed by 64 hex digits"),
    ("0x" + "zz" * 32, "5", "The device id must be 0x followed by 64 hex digits"),
    ("0x" + "ab" * 32, "0", "The span must be between 1 and 1000000"),
    ("0x" + "ab" * 32, "-1", "The span must be between 1 and 1000000"),
    ("0x" + "ab" * 32, "many", "The span must be a whole number, not 'many'"),
    ("0x" + "ab" * 32, "99999999999", "The span must be between 1 and 1000000"),
])
def test_bad_stream_purchase_values_give_a_message(app, alice, device_id, span, message):
    r = alice.post("/streams/buy", data={"csrf_token": csrf_of(alice, "/account/"), "device_id": device_id,
                                         "stream": "fridge", "span": span})
    assert r.status_code == 400 and message in error_messages(r.get_data(as_text=True))
    assert app.extensions["thingbid.streams"].of(alice.get("/account/whoami.json").get_json()["address"]) == []


def test_a_bad_device_id_shows_the_streams_page_again_with_the_typed_id(app, alice):
    r = alice.post("/streams/buy", data={"csrf_token": csrf_of(alice, "/account/"), "device_id": "0x12<b>",
                                         "stream": "fridge", "span": "5"})
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and 'id="offers-form"' in page and "<b>" not in page
    attrs = input_attrs(page, "device_id", "offers-form")
    assert attrs["value"] == "0x12<b>" and attrs.get("aria-invalid") == "true"


@pytest.mark.parametrize("form,field,value,message", [
    ("deposit-form", "amount", "abc", "The amount must be an amount in ETH like 0.01, not 'abc'"),
    ("deposit-form", "amount", "", "The amount is required"),
    ("withdraw-form", "amount", "-1", "The amount must be an amount in ETH like 0.01, not '-1'"),
    ("withdraw-form", "amount", "5", "The amount is more than your free deposit (0 ETH)"),
    ("faucet-form", "amount", "0", "The amount must be between 1 and 1000000"),
    ("faucet-form", "amount", "lots", "The amount must be a whole number, not 'lots'"),
])
def test_bad_wallet_values_show_the_wallet_again_with_the_message_and_the_typed_value(app, alice, form, field,
                                                                                      value, message):
    action = {"deposit-form": "deposit", "withdraw-form": "withdraw", "faucet-form": "tangle/faucet"}[form]
    r = alice.post(f"/wallet/{action}", data={"csrf_token": csrf_of(alice, "/wallet/"), field: value})
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and "<h1>Wallet</h1>" in page
    assert message in error_messages(page)
    assert input_attrs(page, field, form)["value"] == value and input_attrs(page, field, form)["aria-invalid"] == "true"
    others = {"deposit-form", "withdraw-form", "faucet-form"} - {form}
    assert all("aria-invalid" not in input_attrs(page, "amount", f) for f in others)
    assert input_attrs(page, "amount", "faucet-form")["value"] == (value if form == "faucet-form" else "100000")


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
