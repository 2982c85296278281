"""Hostile TD text (issue 17): bidi controls neutralised, a 10 KB title truncated with the full text on
demand, and device names instead of hex ids on the job, bids, auctions, keys and stream pages."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.waiting import poll_until
from frontend.text import BIDI_CONTROLS, neutralise_bidi, shorten
from tests.frontend.fe_helpers import (
    LONG_TITLE,
    NAMED_TITLE,
    RLO,
    SHOWN_TITLE,
    SPOOFED_TITLE,
    build_text_world,
    create_user,
    csrf_of,
    deliver_key,
)


@pytest.fixture(scope="module")
def text_world_m(module_chain, tmp_path_factory):
    return build_text_world(module_chain, tmp_path_factory.mktemp("text"))


@pytest.fixture
def text_app(text_world_m, tmp_path):
    from frontend import create_app
    from frontend.services import Services

    w = text_world_m
    snap = w.chain.tester.take_snapshot()
    services = Services(w.chain, w.manifest, w.database_url, "http://127.0.0.1:9", tmp_path / "keystores",
                        dev_faucet=True)
    yield create_app({"THINGBID_SERVICES": services, "TESTING": True, "KEYSTORE_SCRYPT_N": 2**12})
    w.chain.tester.revert_to_snapshot(snap)


def has_bidi(text: str) -> bool:
    return any(c in text for c in BIDI_CONTROLS)


def device_url(d) -> str:
    return f"/catalog/device/0x{d.device_id.hex()}"


def outside_on_demand(html: str) -> str:
    """The page without its on-demand places: title attributes and <details> elements."""
    html = re.sub(r"<details\b.*?</details>", "", html, flags=re.S)
    return re.sub(r'\stitle="[^"]*"', "", html)


def signed_in_with_bids(app, world):
    """Alice bids on every device of the world through the app; returns her client and the job page."""
    alice = app.test_client()
    assert create_user(alice, "alice").status_code == 302
    r = alice.post("/bids/plan", data={"csrf_token": csrf_of(alice, "/catalog/"), "max_price": "0.002",
                                       "budget": "1"}, follow_redirects=True)
    pid = re.search(r'name="plan" value="([^"]+)"', r.get_data(as_text=True)).group(1)
    job = alice.post("/bids/place", data={"csrf_token": csrf_of(alice, "/bids/"), "plan": pid, "top_up": "1"})
    location = job.headers["Location"]
    # 600 polls without a pause were sometimes over before the job's first batch: wait on time instead.
    def finished():
        job = alice.get(location + ".json").get_json()
        return job if job["state"] in ("done", "failed") else None

    progress = poll_until(finished, timeout=60, interval=0.05,
                          on_timeout=lambda: AssertionError("the bid job did not finish in 60 s"))
    assert progress["placed"] == len(world.devices), progress
    return alice, location


# -- pure parts ------------------------------------------------------------------------------------

@given(st.text())
def test_neutralised_text_has_no_bidi_control_and_keeps_everything_else(text):
    out = neutralise_bidi(text)
    assert not has_bidi(out)
    assert out == "".join(c for c in text if c not in BIDI_CONTROLS)


def test_neutralising_keeps_markup_safe_markup():
    from markupsafe import Markup

    out = neutralise_bidi(Markup(f"<b>{RLO}x</b>"))
    assert isinstance(out, Markup) and out == Markup("<b>x</b>")


@pytest.mark.parametrize("value", [None, 3, 2.5, True])
def test_neutralising_leaves_non_text_alone(value):
    assert neutralise_bidi(value) is value


@pytest.mark.parametrize("text,limit,expected", [
    ("short", 10, "short"),
    ("exactly10!", 10, "exactly10!"),
    ("W" * 11, 10, "W" * 9 + "…"),
    ("", 10, ""),
])
def test_shorten_cuts_long_text_with_an_ellipsis(text, limit, expected):
    assert shorten(text, limit) == expected


def test_json_answers_carry_no_bidi_controls(text_app):
    body = text_app.json.dumps({"title": SPOOFED_TITLE, "items": [[f"u{RLO}"], {"k": 1}]})
    assert not has_bidi(body) and not has_bidi(body.encode().decode("unicode_escape"))
    assert "gnp.exe" in body


# -- bidi controls in pages -------------------------------------------------------------------------

def test_spoofed_title_shows_as_written_in_the_catalog(text_world_m, text_app):
    html = text_app.test_client().get("/catalog/").get_data(as_text=True)
    assert SHOWN_TITLE in html and not has_bidi(html)


def test_every_td_text_on_the_device_page_is_free_of_bidi_controls(text_world_m, text_app):
    html = text_app.test_client().get(device_url(text_world_m.devices[0])).get_data(as_text=True)
    assert not has_bidi(html)
    for shown in (SHOWN_TITLE, "left isolated marks arabic", "taggat", "Proptitle", "unit"):
        assert shown in html


def test_pages_listing_devices_name_them_without_bidi_controls(text_world_m, text_app):
    world = text_world_m
    alice, job = signed_in_with_bids(text_app, world)
    spoofed = world.devices[0]
    world.chain.time_travel(3700)
    r = alice.post("/auctions/settle", data={"csrf_token": csrf_of(alice, "/auctions/"),
                                              "auction_id": [str(d.auction_id) for d in world.devices]})
    assert r.status_code == 302
    deliver_key(world, spoofed, spoofed.auction_id)
    for page in (job, "/bids/", "/auctions/", "/keys/", f"/keys/{spoofed.auction_id}",
                 f"/streams/offers?device_id=0x{spoofed.device_id.hex()}"):
        html = alice.get(page).get_data(as_text=True)
        assert SHOWN_TITLE in html, page
        assert not has_bidi(html), page


# -- a 10 KB title ----------------------------------------------------------------------------------

def test_a_long_title_is_truncated_in_the_catalog_with_the_full_text_in_its_tooltip(text_world_m, text_app):
    html = text_app.test_client().get("/catalog/").get_data(as_text=True)
    assert shorten(LONG_TITLE) in html
    assert LONG_TITLE not in outside_on_demand(html)
    assert f'title="{LONG_TITLE}"' in html


def test_a_long_title_is_truncated_on_the_device_page_with_the_full_text_folded(text_world_m, text_app):
    html = text_app.test_client().get(device_url(text_world_m.devices[1])).get_data(as_text=True)
    assert re.search(rf'<h1 id="device-title">{shorten(LONG_TITLE)}</h1>', html)
    assert LONG_TITLE not in outside_on_demand(html)
    full = re.search(r'<details id="full-title">(.*?)</details>', html, re.S)
    assert full and LONG_TITLE in full.group(1)


def test_the_stylesheet_wraps_unbroken_text():
    from pathlib import Path

    import frontend

    css = (Path(frontend.__file__).parent / "static" / "app.css").read_text()
    assert re.search(r"main\s*\{[^}]*overflow-wrap:\s*anywhere", css)


# -- names instead of hex ---------------------------------------------------------------------------

def test_job_bids_auctions_keys_and_stream_pages_show_device_names(text_world_m, text_app):
    world = text_world_m
    alice, job = signed_in_with_bids(text_app, world)
    named = world.devices[2]
    hex_id = "0x" + named.device_id.hex()
    world.chain.time_travel(3700)
    r = alice.post("/auctions/settle", data={"csrf_token": csrf_of(alice, "/auctions/"),
                                              "auction_id": [str(d.auction_id) for d in world.devices]})
    assert r.status_code == 302
    deliver_key(world, named, named.auction_id)
    for page in (job, "/bids/", "/auctions/", "/keys/", f"/streams/offers?device_id={hex_id}"):
        html = alice.get(page).get_data(as_text=True)
        link = re.search(rf'<a href="/catalog/device/{hex_id}"[^>]*>(.*?)</a>', html, re.S)
        assert link and link.group(1).strip() == NAMED_TITLE, page
        # The long title is shortened there too, and no row falls back to a bare hex id.
        assert LONG_TITLE not in outside_on_demand(html), page
        assert f"<code>{hex_id[:14]}…</code>" not in html, page


def test_a_device_the_catalog_does_not_know_falls_back_to_its_short_id(text_app):
    alice = text_app.test_client()
    assert create_user(alice, "alice").status_code == 302
    unknown = "0x" + "ab" * 32
    html = alice.get(f"/streams/offers?device_id={unknown}").get_data(as_text=True)
    link = re.search(rf'<a href="/catalog/device/{unknown}"[^>]*>(.*?)</a>', html, re.S)
    assert link and unknown[:14] in link.group(1)
