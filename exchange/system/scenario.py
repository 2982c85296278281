"""The end-to-end scenario run by ``thingbid up --check``: a data scientist's whole journey.

check-in of all agents -> OEM attestation of every other one on chain -> catalog shows them ->
catalog (and its "OEM-attested only" filter) tells attested from non-attested devices ->
batch bid -> settle -> key delivered -> data read with the key -> stream span bought on the
tangle -> readings received -> refused after expiry. Each step prints one line; the first
failure stops the run.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from exchange.errors import ExchangeError
from exchange.waiting import poll_until


class ScenarioFailed(ExchangeError, AssertionError):
    """A step of the end-to-end scenario did not hold."""


@dataclass
class World:
    chain: object  # exchange.chain.connect.Chain (local: time travel allowed)
    manifest: dict
    fleet: list[dict]  # device_id, appliance, url, address, oem_attested (configured with the OEM key)
    web_url: str
    tangle_url: str
    bidding_seconds: int
    database_url: str = ""  # the catalog the indexer fills
    oem: str = ""  # the dev OEM address allow-listed on the registry
    relay_url: str = ""  # the relay the fleet dials out to ("" : agents serve their own loopback ports)


def _check_relayed_read(world: World, device_hex: str, href: str, token: str) -> str:
    """The TD names the relay, not the home; a sealed read through it verifies against the registry record."""
    from exchange.chain.registry import RegistryClient
    from exchange.relay.client import read_device
    from exchange.relay.e2e import AnswerError

    if not href.startswith(f"{world.relay_url}/devices/{device_hex}/"):
        raise ScenarioFailed(f"the TD's form {href} does not point at the relay {world.relay_url}")
    registry = RegistryClient.from_manifest(world.chain, world.manifest)
    device_id = bytes.fromhex(device_hex)
    checkins = [e for e in registry.events() if e.name == "DeviceCheckedIn" and bytes(e.args["deviceId"]) == device_id]
    try:
        answer = read_device(href, device_id_hex=device_hex, signing_key=registry.signing_key_of(device_id),
                             token=token, x25519_key=bytes(checkins[-1].args["x25519Key"]))
    except AnswerError as exc:
        raise ScenarioFailed(f"a sealed read through the relay failed: {exc}") from None
    if answer.status != 200:
        raise ScenarioFailed(f"a sealed read through the relay answered {answer.status}")
    return f"the TD names the relay {world.relay_url}; a sealed read through it is signed by the registered key"


def http_json(url: str, token: str | None = None, timeout: float = 10) -> tuple[int, dict | str]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = r.read().decode()
            return r.status, (json.loads(body) if "json" in r.headers.get("Content-Type", "") else body)
    except urllib.error.HTTPError as e:
        body = e.read().decode()
        try:
            return e.code, json.loads(body)
        except ValueError:
            return e.code, body


def wait_for(what: str, predicate: Callable[[], object], timeout: float = 60.0, interval: float = 0.2):
    return poll_until(predicate, timeout=timeout, interval=interval,
                      on_timeout=lambda: ScenarioFailed(f"timed out after {timeout:.0f} s waiting for {what}"))


def run_scenario(world: World, echo: Callable[[str], None] = print) -> None:
    from exchange.bidding import DeviceOffer, plan_bids
    from exchange.chain.auction import AuctionHouseClient
    from exchange.chain.registry import RegistryClient
    from exchange.crypto import generate_x25519, open_sealed
    from exchange.crypto.delivery import key_context

    chain, fleet = world.chain, world.fleet
    registry = RegistryClient.from_manifest(chain, world.manifest)
    house = AuctionHouseClient.from_manifest(chain, world.manifest)
    step = 0

    def ok(msg: str) -> None:
        nonlocal step
        step += 1
        echo(f"check {step}: ok   {msg}")

    ids = [bytes.fromhex(d["device_id"].removeprefix("0x")) for d in fleet]
    wait_for("every agent to check in", lambda: all(registry.is_active(i) for i in ids), 60)
    ok(f"{len(ids)} agents checked in to the registry")

    attested = {i for i, d in zip(ids, fleet, strict=True) if d.get("oem_attested")}
    if not world.oem or not registry.is_oem(world.oem):
        raise ScenarioFailed(f"no dev OEM is allow-listed on the registry (OEM {world.oem or 'none'})")
    if not attested or (len(ids) > 1 and len(attested) == len(ids)):
        raise ScenarioFailed(f"the fleet should mix OEM-attested and non-attested devices: {len(attested)} of "
                             f"{len(ids)} are configured with the OEM key")
    wait_for("OEM attestations on chain", lambda: all(registry.is_attested(i) == (i in attested) for i in ids), 60)
    ok(f"{len(attested)} of {len(ids)} devices OEM-attested on chain by {world.oem} (the others not)")

    def catalog_lists_all():
        status, page = http_json(f"{world.web_url}/catalog/?per_page=100")
        return status == 200 and all(d["device_id"].removeprefix("0x")[:16] in str(page) for d in fleet)

    wait_for("the web catalog to show every device", catalog_lists_all, 60)
    ok(f"the web catalog at {world.web_url}/catalog/ shows all {len(fleet)} devices")

    _check_catalog_attestation(world, ids, attested)
    ok(f"the catalog marks the {len(attested)} attested devices (OEM {world.oem}) and not the other "
       f"{len(ids) - len(attested)}; the web filter \"OEM-attested only\" lists exactly them")

    def open_auctions():
        found = {}
        for ev in house.events(names={"AuctionOpened"}):
            found[bytes(ev.args["deviceId"])] = ev.args["auctionId"]
        return found if all(i in found for i in ids) else None

    opened = wait_for("an auction on every device", open_auctions, 60)
    buyer = chain.accounts[-1]
    x_sk, x_pk = generate_x25519()
    house.register_buyer_key(x_pk, sender=buyer)
    house.deposit(10**18, sender=buyer)
    offers = []
    for dev_id, aid in opened.items():
        info = house.auction(aid)
        if not info.sealed_bids:
            offers.append(DeviceOffer(dev_id.hex(), aid, max(info.reserve, info.first_amount + info.increment)))
    plan = plan_bids(offers, max_price_per_device=10**17, budget=10**18)
    placed = 0
    for batch in plan.batches:
        _, skipped = house.bid_batch([b.auction_id for b in batch.bids], [b.amount for b in batch.bids], sender=buyer)
        placed += len(batch.bids) - len(skipped)
    if placed == 0:
        raise ScenarioFailed(f"no bid was placed (plan: {plan})")
    won = [b for batch in plan.batches for b in batch.bids]
    ok(f"batch bid placed {placed} bids in {len(plan.batches)} transaction(s)")

    chain.time_travel(world.bidding_seconds + 1)

    def settled():
        names = {"AuctionSettled"}
        done = {ev.args["auctionId"] for ev in house.events(names=names)}
        return all(b.auction_id in done for b in won)

    wait_for("settlement of the auctions bid on", settled, 90)
    ok(f"{len(won)} auctions settled after the bidding end (chain time moved forward)")

    first = won[0]

    def delivered():
        evs = [e for e in house.events(names={"KeyDelivered"}) if e.args["auctionId"] == first.auction_id]
        return evs[0] if evs else None

    ev = wait_for("the device agent to deliver the key", delivered, 90)
    token = open_sealed(x_sk, bytes(ev.args["sealedKey"]), key_context(first.auction_id)).decode()
    ok(f"key for auction {first.auction_id} delivered on chain and opened by the winner only")

    agent = next(d for d in fleet if d["device_id"].removeprefix("0x") == first.device_id.removeprefix("0x"))
    status, td = http_json(agent["url"] + "/.well-known/wot")
    if status != 200:
        raise ScenarioFailed(f"TD not served: {status} {td}")
    prop, spec = next(iter(td["properties"].items()))
    href = spec["forms"][0]["href"]
    status, body = http_json(href, token)
    if status != 200 or isinstance(body, dict | list):  # a bare value, valid against the property's schema
        raise ScenarioFailed(f"reading {prop} with the key failed: {status} {body}")
    status_nokey, _ = http_json(href)
    if status_nokey != 401:
        raise ScenarioFailed(f"reading without a key answered {status_nokey}, expected 401")
    ok(f"read {prop} = {body} from the {agent['appliance']} with the key (401 without it)")
    if world.relay_url:
        ok(_check_relayed_read(world, agent["device_id"].removeprefix("0x"), href, token))

    from exchange.ledger.tangle import TangleLedger
    from exchange.streams.buyer import StreamBuyer
    from exchange.tangle.client import TangleClient
    from exchange.tangle.wallet import Wallet

    wallet = Wallet.generate()
    client = TangleClient(world.tangle_url)
    client.wait_confirmed(client.faucet(wallet.address, 10_000), timeout=20)
    from exchange.chain.registry import RegistryClient
    from exchange.streams.records import RegistryRecords

    buyer_stream = StreamBuyer(TangleLedger(client, wallet),
                               registry=RegistryRecords(RegistryClient.from_manifest(world.chain, world.manifest)))
    span = 3
    purchase = wait_for("a stream offer and purchase", lambda: _try_buy(buyer_stream, agent["device_id"], span), 60, 1.0)
    ok(f"bought a span of {span} messages of the {agent['appliance']}'s stream on the tangle (feeless)")

    readings = []
    follower = buyer_stream.follower(purchase)
    for reading in follower.follow(timeout=90):
        readings.append(reading)
        if len(readings) >= span:
            break
    if len(readings) < span:
        raise ScenarioFailed(f"received {len(readings)} of {span} readings")
    ok(f"received {len(readings)} decrypted, signed, chained readings")

    period = house.auction(first.auction_id).access_period
    chain.time_travel(period + 1)
    status, body = wait_for("refusal after the period", lambda: (r := http_json(href, token))[0] != 200 and r, 30)
    if status != 403:
        raise ScenarioFailed(f"after expiry the agent answered {status} {body}, expected 403")
    ok(f"refused after the access period ({status} {body.get('error') if isinstance(body, dict) else body})")


def _check_catalog_attestation(world: World, ids: list[bytes], attested: set[bytes]) -> None:
    """The indexer filled the catalog's attestation from the registry's events (the device rows'
    flag and OEM, the allow-listed OEM's row), and the web catalog's attested filter uses it."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from exchange.catalog import Catalog, CatalogFilter
    from exchange.catalog.models import Oem

    if not world.database_url:
        raise ScenarioFailed("no catalog database given to check attestation in")
    oem = world.oem.lower()
    catalog = Catalog(world.database_url, create=False)
    try:
        def indexed() -> bool:
            for i in ids:
                d = catalog.device(i)
                if d is None or d.attested != (i in attested) or (d.oem or "").lower() != (oem if i in attested else ""):
                    return False
            only = set(catalog.device_ids(CatalogFilter(attested_only=True)))
            return all(("0x" + i.hex() in only) == (i in attested) for i in ids)

        wait_for("the catalog to record which devices are OEM-attested", indexed, 60)
        with Session(catalog.engine) as s:
            row = s.execute(select(Oem).where(Oem.address == world.oem)).scalar_one_or_none()
        if row is None or not row.allowed:
            raise ScenarioFailed(f"the catalog's OEM table lacks the allow-listed OEM {world.oem}: {row}")
    finally:
        catalog.close()

    def web_filter() -> bool:
        status, page = http_json(f"{world.web_url}/catalog/?attested=1&per_page=100")
        return status == 200 and all((i.hex()[:16] in str(page)) == (i in attested) for i in ids)

    wait_for('the web catalog\'s "OEM-attested only" filter to list exactly the attested devices', web_filter, 30)


def _try_buy(buyer, device_id: str, span: int):
    from exchange.streams.errors import PurchaseError

    try:
        return buyer.buy(device_id.removeprefix("0x"), span)
    except PurchaseError:
        return None


def load_fleet(state_dir: Path) -> list[dict]:
    return json.loads((state_dir / "fleet.json").read_text())
