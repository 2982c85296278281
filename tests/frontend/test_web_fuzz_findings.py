"""What the web app's fuzz target (frontend/fuzz_target.py, tests/fuzz) found, one regression test each (issue 13)."""

from __future__ import annotations

import pytest

from tests.frontend.fe_helpers import csrf_of


@pytest.mark.parametrize("path", ["/wallet-tx/run/job/next", "/wallet-tx/sent", "/wallet-tx/single/deposit",
                                  "/wallet-tx/plan/p/start", "/siwe/verify"])
def test_an_api_route_refuses_a_form_post_without_csrf_in_json(app, path):
    """A form-encoded POST (not JSON) to the wallet API got the HTML error page (fuzz seed 1)."""
    c = app.test_client()
    csrf_of(c)
    r = c.post(path, data={"csrf_token": "wrong"})
    assert r.status_code == 400 and r.is_json and "CSRF" in r.get_json()["error"], r.get_data(as_text=True)[:200]


@pytest.mark.parametrize("path", ["/search/jsonpath?query=$.title", "/.well-known/wot", "/siwe/nonce.json"])
def test_a_post_to_a_read_only_api_route_is_refused_in_json(app, path):
    """No rule matches, so no blueprint: the CSRF refusal came as the HTML error page (fuzz seed 1)."""
    r = app.test_client().post(path, data=b"\xdbfr\xfe\xb5")
    assert 400 <= r.status_code < 500 and r.is_json and r.get_json()["error"], r.get_data(as_text=True)[:200]


@pytest.mark.parametrize("path", ["/account/signin", "/account/create"])
def test_head_of_a_form_page_is_the_page_not_a_failed_submission(app, path):
    """HEAD went the POST way: a 400 'username is required', and a failed sign-in charged to the client."""
    c = app.test_client()
    for _ in range(app.config["LOGIN_FAILURES_PER_WINDOW"] + 1):
        assert c.head(path).status_code == 200
    assert c.get(path).status_code == 200
    assert app.extensions["thingbid.login_limiter"].blocked("ip:127.0.0.1") == 0


@pytest.mark.parametrize("token", ["\u00e9", "x\U0001f600", "\ud800"])
@pytest.mark.parametrize("via", ["form", "header"])
def test_a_csrf_token_with_non_ascii_characters_is_refused_not_a_crash(app, token, via):
    """hmac.compare_digest raises TypeError on non-ASCII text: any POST with such a token was a 500 (fuzz seed 6)."""
    c = app.test_client()
    csrf_of(c)
    if via == "form":
        from urllib.parse import quote

        r = c.post("/bids/place", data=b"csrf_token=" + quote(token.encode("utf-8", "surrogatepass")).encode(),
                   content_type="application/x-www-form-urlencoded")
    else:
        r = c.post("/bids/place", headers={"X-CSRF-Token": token.encode("utf-8", "surrogatepass").decode("latin-1")})
    assert r.status_code == 400 and "CSRF" in r.get_data(as_text=True), r.status_code
