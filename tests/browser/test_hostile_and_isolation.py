"""In the browser: hostile TD markup stays text and runs nothing; CSRF-less POSTs fail; users are isolated."""

from __future__ import annotations

import re

import pytest

from tests.browser.browser_helpers import shot
from tests.browser.test_journey import PASSWORD, sign_up

pytestmark = [pytest.mark.browser, pytest.mark.anvil]


def test_markup_in_device_titles_and_descriptions_is_shown_as_text(system, page_factory):
    page = page_factory()
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{system.url}/catalog/?q=hostile")
    assert page.locator("#result-count strong").inner_text() == "2"
    titles = page.locator("#results a.title").all_inner_texts()
    assert all("<script>window.__pwned=1</script>" in t for t in titles)
    page.locator("#results a.title").first.click()
    page.wait_for_selector("#device-title")
    assert "<img src=x" in page.locator("#device-title").inner_text()
    assert "<b onmouseover=" in page.locator("#device-description").inner_text()
    page.hover("#device-description")
    assert page.locator("#device-title img, #device-title script, #device-description b, iframe").count() == 0
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert dialogs == []
    shot(page, "09-hostile-device-as-text")


def test_post_without_csrf_token_is_refused_in_the_browser(system, page_factory):
    page = page_factory()
    sign_up(page, system.url, "csrfcheck")
    r = page.request.post(f"{system.url}/wallet/deposit", form={"amount": "1"})
    assert r.status == 400 and "CSRF" in r.text()
    r = page.request.post(f"{system.url}/account/signout", form={"csrf_token": "forged"})
    assert r.status == 400
    page.goto(f"{system.url}/account/")
    assert page.locator("#deposit").inner_text().startswith("0 ETH")  # nothing was deposited


def test_one_user_cannot_open_anothers_bids_or_keys(system, page_factory):
    a, b = page_factory(), page_factory()
    sign_up(a, system.url, "owner1")
    sign_up(b, system.url, "intruder")
    a.goto(f"{system.url}/catalog/?q=hostile")
    a.fill("input[name=max_price]", "0.002")
    a.fill("input[name=budget]", "0.01")
    a.click("#plan-bids")
    a.click("#sign-and-place")
    a.wait_for_selector("#outcomes", timeout=30_000)
    job_url = a.url
    assert re.search(r"/bids/job/", job_url)
    r = b.goto(job_url)
    assert r.status == 404
    assert b.request.get(job_url + ".json").status == 404
    b.goto(f"{system.url}/bids/")
    assert "No bids yet" in b.locator("#my-bids").inner_text()
    b.goto(f"{system.url}/keys/")
    assert "No keys yet" in b.locator("#keys").inner_text()
    # Signing out forgets the key: the session cannot act any more.
    b.click("#signout")
    b.wait_for_url(re.compile(r"/account/signin"))
    assert b.request.get(f"{system.url}/account/whoami.json").json()["signed_in"] is False
    b.fill("input[name=username]", "intruder")
    b.fill("input[name=password]", PASSWORD)
    b.click("#signin-form button")
    b.wait_for_url(re.compile(r"/catalog/"))
