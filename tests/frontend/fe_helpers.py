"""Helpers shared by the frontend and browser tests (unique module name: tests/ is not a package)."""

from __future__ import annotations

import re

PASSWORD = "correct horse battery"

RLO = "\u202e"
SPOOFED_TITLE = f"Invoice {RLO}gnp.exe"  # reads "Invoice exe.png" in a browser
SHOWN_TITLE = "Invoice gnp.exe"
LONG_TITLE = "W" * 10_000  # one unbroken word
NAMED_TITLE = "Cellar fridge of Ada"


def csrf_of(client, path="/account/signin") -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def create_user(client, username: str, password: str = PASSWORD, **extra):
    token = csrf_of(client, "/account/create")
    data = {"csrf_token": token, "username": username, "password": password, "confirm": password, "mode": "new"}
    data.update(extra)
    return client.post("/account/create", data=data)


def deliver_key(world, device, auction_id: int, *, token_key: bytes | None = None) -> str:
    """What the device agent does after settlement: seal a signed access token to the winner
    (``token_key``: sign the token with another Ed25519 key than the device's registered one)."""
    from exchange.chain.auction import AuctionHouseClient
    from exchange.crypto import AccessClaims, issue_token, seal
    from exchange.crypto.delivery import key_context

    house = AuctionHouseClient.from_manifest(world.chain, world.manifest)
    info = house.auction(auction_id)
    now = int(world.chain.w3.eth.get_block("latest")["timestamp"])
    token = issue_token(device.ed25519_private if token_key is None else token_key,
                        AccessClaims(device.device_id.hex(), auction_id, info.first, now, now + info.access_period))
    house.deliver_key(auction_id, seal(house.buyer_key_of(info.first), token.encode(), key_context(auction_id)),
                      sender=device.owner)
    return token


def error_messages(html: str) -> list[str]:
    """The messages a page shows in its error list or error paragraph (unescaped), nothing else."""
    import html as htmlmod

    found = re.findall(r'<ul class="error" role="alert" id="errors">(.*?)</ul>', html, re.S)
    items = re.findall(r"<li>(.*?)</li>", found[0], re.S) if found else []
    items += re.findall(r'<p class="error" role="alert" id="error">(.*?)</p>', html, re.S)
    return [htmlmod.unescape(i).strip() for i in items]


def input_attrs(html: str, name: str, form_id: str | None = None) -> dict[str, str] | None:
    """The attributes (unescaped) of the first input called ``name``, inside the form ``form_id`` if given."""
    import html as htmlmod

    if form_id is not None:
        m = re.search(rf'<form[^>]*id="{re.escape(form_id)}"[^>]*>(.*?)</form>', html, re.S)
        if not m:
            return None
        html = m.group(1)
    tag = re.search(rf'<input\b[^>]*\sname="{re.escape(name)}"[^>]*>', html)
    if not tag:
        return None
    return {k: htmlmod.unescape(v) for k, v in re.findall(r'([a-z-]+)="([^"]*)"', tag.group(0))}


def build_text_world(chain, tmp):
    """Three devices with open English auctions: a spoofed title (and bidi controls in its description,
    tags, property titles and units), a 10 KB title, and a plain name."""
    from exchange.chain.deploy import deploy_all
    from frontend.devworld import World, check_in, index, make_devices, open_auctions_for, sqlite_url

    manifest, _ = deploy_all(chain, tmp / "deployments")
    devices = make_devices(3, chain.accounts[1:3], seed=17)
    spoofed, long, named = devices
    spoofed.td["title"] = SPOOFED_TITLE
    spoofed.td["description"] = "\u202aleft\u202c \u2067isolated\u2069 \u200emarks\u200f \u061carabic"
    spoofed.td["tags"] = [*spoofed.td["tags"], f"tag{RLO}gat"]
    prop = next(iter(spoofed.td["properties"].values()))
    prop["title"] = f"Prop{RLO}title"
    prop["unit"] = f"\u202dunit{RLO}"
    long.td["title"] = LONG_TITLE
    named.td["title"] = NAMED_TITLE
    check_in(chain, manifest, devices)
    world = World(chain, manifest, sqlite_url(tmp), devices)
    open_auctions_for(world, devices, 3600)
    index(chain, manifest, world.database_url)
    return world
