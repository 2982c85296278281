"""The browser wallet (issue 18) in Debian chromium: an injected EIP-1193 wallet with a real key signs in.

The wallet signs with viem's local account and talks to the same anvil the app uses; the server
never sees its key. Bad sign-in messages signed by that wallet are refused with a JSON reason.
"""

from __future__ import annotations

import json
import logging
import re

import pytest

from tests.browser.browser_helpers import shot
from tests.browser.wallet_helpers import (
    LogKeeper,
    RequestRecorder,
    delivery_key_of,
    sealed_amount_of,
    sealed_salt_of,
    secrets_found,
    tangle_wallet_of,
    wallet_secrets_of,
)

pytestmark = [pytest.mark.browser, pytest.mark.anvil]
KEY = "0x" + "5a" * 31 + "01"
DEVICES = 120  # the "batch-bid 100+ devices"
BATCH = 48  # bids per transaction here: 120 devices need 3 batches


@pytest.fixture(scope="module")
def provider_bundle():
    from frontend import devwallet

    return devwallet.bundle()


@pytest.fixture(scope="module")
def wallet_site(anvil_process, tmp_path_factory):
    """Anvil (reverted afterwards): contracts, 30 devices in open auctions, indexed, and one real device agent
    (its WoT server on loopback, tagged walletdata, no auction yet); the app on a real server with every
    request it receives and every log record it writes kept."""
    from exchange.chain.connect import rpc_chain
    from exchange.chain.deploy import deploy_all
    from exchange.tangle.testing import run_node
    from frontend import auction_reads, create_app
    from frontend.devworld import World, check_in, index, make_devices, open_auctions_for, sqlite_url
    from frontend.services import Services
    from tests.browser.conftest import RealDevice, ServerThread

    tmp = tmp_path_factory.mktemp("wallet")
    chain = rpc_chain(anvil_process.url, kind="anvil")
    snap = chain.w3.provider.make_request("evm_snapshot", [])["result"]
    logs = LogKeeper()
    batch_size, auction_reads.BATCH_SIZE = auction_reads.BATCH_SIZE, BATCH  # several batches from few devices
    logging.getLogger().addHandler(logs)
    try:
        with run_node(tmp / "tangle") as (tangle_url, _node):
            manifest, _ = deploy_all(chain, tmp / "deployments", fresh=True)
            devices = make_devices(DEVICES, chain.accounts[1:3], seed=21, tags=("walletfleet",))
            real = RealDevice(chain, chain.accounts[5], tangle_url, tags=("walletdata",))
            check_in(chain, manifest, [*devices, real.sim_device()])
            world = World(chain, manifest, sqlite_url(tmp), [*devices, real.sim_device()])
            open_auctions_for(world, devices, duration_s=3600)
            index(chain, manifest, world.database_url)
            services = Services(rpc_chain(anvil_process.url), manifest, world.database_url, tangle_url,
                                tmp / "keystores", dev_faucet=True)
            # The refusal tests fail sign-ins on purpose from 127.0.0.1: room for them under the throttle.
            app = create_app({"THINGBID_SERVICES": services, "BIND_HOST": "127.0.0.1", "LOGIN_FAILURES_PER_WINDOW": 100,
                              "DEVICE_NETWORKS": ["127.0.0.0/8"]})  # the real device serves on loopback
            recorder = RequestRecorder(app.wsgi_app)
            app.wsgi_app = recorder
            try:
                with ServerThread(app) as server:
                    yield type("WalletSite", (), {"url": server.url, "app": app, "chain": chain, "rpc": anvil_process.url,
                                                  "recorder": recorder, "world": world, "logs": logs, "tmp": tmp,
                                                  "real": real})
            finally:
                real.close()
    finally:
        logging.getLogger().removeHandler(logs)
        auction_reads.BATCH_SIZE = batch_size
        chain.w3.provider.make_request("evm_revert", [snap])


def wallet_page(browser, site, bundle, chain_id=None, key=KEY):
    ctx = browser.new_context()
    from frontend import devwallet

    relay = devwallet.install(ctx, bundle, key, site.rpc, chain_id=chain_id)
    page = ctx.new_page()
    page.set_default_timeout(45_000)  # generous: a loaded 2-core machine; passing runs take seconds
    page.console_errors = []
    page.on("console", lambda m: page.console_errors.append(m.text) if m.type == "error" else None)
    return ctx, page, relay


def test_sign_in_with_the_injected_wallet(browser, wallet_site, provider_bundle):
    from eth_account import Account

    address = Account.from_key(KEY).address
    ctx, page, relay = wallet_page(browser, wallet_site, provider_bundle)
    try:
        page.goto(f"{wallet_site.url}/account/signin?next=/account/")
        page.click("#wallet-signin")
        page.wait_for_url(re.compile(r"/account/$"))
        assert page.locator("#address").inner_text() == address
        assert "this server holds no key" in page.locator("#session-mode").inner_text()
        who = json.loads(page.evaluate("fetch('/account/whoami.json').then(r => r.text())"))
        assert who == {"signed_in": True, "address": address, "mode": "wallet"}
        assert "personal_sign" in relay.asked and "eth_chainId" in relay.asked
        assert {c["method"] for c in relay.calls} == {"eth_chainId"}  # signing stays in the wallet
        assert not wallet_site.recorder.holds(KEY.encode(), KEY[2:].encode())
        assert page.console_errors == []
    finally:
        ctx.close()


def test_a_wallet_on_another_chain_is_refused(browser, wallet_site, provider_bundle):
    ctx, page, _ = wallet_page(browser, wallet_site, provider_bundle, chain_id=1)
    try:
        page.goto(f"{wallet_site.url}/account/signin")
        page.click("#wallet-signin")
        status = page.locator("#wallet-status.error")
        status.wait_for()
        assert "switch your wallet's network" in status.inner_text()
        assert status.get_attribute("data-reason") == "chain"
        assert json.loads(page.evaluate("fetch('/account/whoami.json').then(r => r.text())"))["signed_in"] is False
    finally:
        ctx.close()


# The page's own script, as an attacker's page would: a message of its choosing, signed by the wallet.
FORGE = """async ([mutation]) => {
  const site = await (await fetch('/siwe/nonce.json')).json();
  const [address] = await window.ethereum.request({method: 'eth_requestAccounts'});
  const now = Date.now();
  const f = {domain: location.host, uri: location.origin + '/', chain: site.chain_id, nonce: site.nonce,
             issued: new Date(now).toISOString(), expires: new Date(now + 300000).toISOString()};
  if (mutation === 'nonce') f.nonce = 'b'.repeat(32);
  if (mutation === 'expired') { f.issued = new Date(now - 600000).toISOString(); f.expires = new Date(now - 1000).toISOString(); }
  if (mutation === 'domain') f.domain = 'evil.example';
  if (mutation === 'chain') f.chain = site.chain_id + 1;
  const message = `${f.domain} wants you to sign in with your Ethereum account:\\n${address}\\n\\n${site.statement}\\n\\n` +
    `URI: ${f.uri}\\nVersion: 1\\nChain ID: ${f.chain}\\nNonce: ${f.nonce}\\nIssued At: ${f.issued}\\nExpiration Time: ${f.expires}`;
  const hex = '0x' + Array.from(new TextEncoder().encode(message), b => b.toString(16).padStart(2, '0')).join('');
  const signature = await window.ethereum.request({method: 'personal_sign', params: [hex, address]});
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const r = await fetch('/siwe/verify', {method: 'POST', body: JSON.stringify({message, signature}),
    headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf}});
  return {status: r.status, body: await r.json()};
}"""


@pytest.mark.parametrize("mutation,reason", [("none", None), ("nonce", "nonce"), ("expired", "expired"),
                                             ("domain", "domain"), ("chain", "chain")])
def test_sign_in_messages_signed_by_the_wallet_are_checked(browser, wallet_site, provider_bundle, mutation, reason):
    ctx, page, _ = wallet_page(browser, wallet_site, provider_bundle)
    try:
        page.goto(f"{wallet_site.url}/account/signin")
        answer = page.evaluate(FORGE, [mutation])
        if reason is None:  # the control: the same script with nothing changed signs in
            assert answer["status"] == 200 and answer["body"]["signed_in"] is True
        else:
            assert answer["status"] == 400 and answer["body"]["reason"] == reason, answer
    finally:
        ctx.close()


def test_bid_with_the_wallet_then_open_the_delivered_key_in_the_browser(browser, wallet_site, provider_bundle):
    """Batch-bid 120 devices in 3 wallet-signed batches, settle, and open the sealed key in the page.

    Then: no request the server received, no log record and no file it wrote holds the wallet's key,
    the derived X25519 key or the opened access token.
    """
    from eth_account import Account

    from exchange.chain.auction import AuctionHouseClient
    from exchange.crypto import x25519_public
    from tests.frontend.fe_helpers import deliver_key

    site, chain = wallet_site, wallet_site.chain
    address = Account.from_key(KEY).address
    house = AuctionHouseClient.from_manifest(chain, site.world.manifest)
    ctx, page, relay = wallet_page(browser, site, provider_bundle)
    try:
        page.goto(f"{site.url}/account/signin?next=/catalog/%3Fq%3Dwalletfleet")
        page.click("#wallet-signin")
        page.wait_for_url(re.compile(r"/catalog/\?q=walletfleet$"))
        page.fill("input[name=max_price]", "0.002")
        page.fill("input[name=budget]", "1")
        page.click("#plan-bids")
        page.wait_for_url(re.compile(r"/bids/plan/"))
        assert page.locator("#plan-count").inner_text() == str(DEVICES)
        # The server's estimate is on the page before any signature: first the key and the deposit.
        prepare = page.locator("#wallet-prepare")
        prepare.wait_for()
        assert "gas in 2 transaction(s)" in page.locator("#cost-gas").inner_text()
        assert "ETH" in page.locator("#cost-total").inner_text()
        assert prepare.inner_text().startswith("Register your key-delivery key, then deposit the missing")
        prepare.click()
        page.locator("#wallet-sign-plan:enabled").wait_for()
        steps = page.locator("#cost-steps li").all_inner_texts()
        assert len(steps) == 3 and all(" gas" in s for s in steps) and "bid batch 3 of 3 (24 bids)" in steps[2]
        assert "gas in 3 transaction(s)" in page.locator("#cost-gas").inner_text()
        shot(page, "wallet-01-plan-estimated")
        assert house.balance_of(address).free >= DEVICES * 10**14
        page.click("#wallet-sign-plan")
        page.wait_for_url(re.compile(r"/bids/job/"), timeout=60_000)
        assert f"{DEVICES} placed, 0 skipped, 0 failed" in page.locator("#outcome-summary").inner_text()
        assert relay.asked.count("eth_sendTransaction") == 5  # key, deposit, 3 batches: each signed by the wallet
        assert relay.asked.count("personal_sign") == 2  # the sign-in and the key-delivery key, once per page

        # The key the page registered is the one derived from the wallet's signature (any machine gets it).
        private = delivery_key_of(KEY)
        assert house.buyer_key_of(address) == x25519_public(private)

        # Settle all of them from the auctions page: the first press shows the cost, the second signs.
        chain.time_travel(3700)
        page.goto(f"{site.url}/auctions/")
        page.click("#settle-all")
        cost = page.locator("#settle-form output.wallet-cost")
        cost.filter(has_text="press again").wait_for()
        assert f"settle {DEVICES} auction(s)" in cost.inner_text() and " gas, fees " in cost.inner_text()
        page.click("#settle-all")
        page.wait_for_load_state("load")
        page.locator("#auctions td.state", has_text="awaiting_key").first.wait_for()
        assert page.locator("#auctions td.state", has_text="awaiting_key").count() == DEVICES
        assert relay.asked.count("eth_sendTransaction") == 6
        d = site.world.devices[0]
        aid = next(a for a in range(1, house.auction_count() + 1) if house.auction(a).device_id.hex() == d.device_id.hex())
        token = deliver_key(site.world, d, aid)

        page.goto(f"{site.url}/keys/")
        button = page.locator(f"button.open-key[data-auction='{aid}']")
        button.click()
        opened = page.locator("output.opened code.token")
        opened.wait_for()
        assert opened.inner_text() == token
        shot(page, "wallet-02-key-opened")
        assert page.console_errors == []
    finally:
        ctx.close()
    found = secrets_found([KEY, private.hex(), token], site.recorder.seen, site.logs.lines(), site.tmp)
    assert found == [], found


def sign_in_and_bid(page, site, tag: str, n: int) -> None:
    """Sign in with the page's wallet and place one bid on each of the ``n`` devices tagged ``tag``."""
    page.goto(f"{site.url}/account/signin?next=/catalog/%3Fq%3D{tag}")
    page.click("#wallet-signin")
    page.wait_for_url(re.compile(rf"/catalog/\?q={tag}$"))
    page.fill("input[name=max_price]", "0.002")
    page.fill("input[name=budget]", "1")
    page.click("#plan-bids")
    page.wait_for_url(re.compile(r"/bids/plan/"))
    assert page.locator("#plan-count").inner_text() == str(n)
    page.locator("#wallet-prepare").click()
    page.locator("#wallet-sign-plan:enabled").click()
    page.wait_for_url(re.compile(r"/bids/job/"), timeout=60_000)
    assert f"{n} placed, 0 skipped, 0 failed" in page.locator("#outcome-summary").inner_text()


def press_twice(page, form, expect: str) -> None:
    """A wallet form: the first press shows the server's estimate, the second signs; the page reloads."""
    form.locator("button[type=submit]").click()
    cost = form.locator("output.wallet-cost")
    cost.filter(has_text=re.compile("press again|refused")).wait_for()  # a refusal fails the assert below
    assert expect in cost.inner_text() and " gas, fees " in cost.inner_text(), cost.inner_text()
    with page.expect_navigation():
        form.locator("button[type=submit]").click()


def test_withdraw_reclaim_and_rate_signed_by_the_wallet(browser, wallet_site, provider_bundle):
    """Another wallet bids on two devices of its own and settles; one device delivers and is rated, the other
    never delivers and its payment is reclaimed; then the free deposit is withdrawn. Each transaction is
    estimated by the server, signed by the wallet (eth_sendTransaction) and its effect read back on chain."""
    from eth_account import Account

    from exchange.chain.auction import AuctionHouseClient
    from frontend.devworld import check_in, index, make_devices, open_auctions_for
    from frontend.forms import format_eth
    from tests.frontend.fe_helpers import deliver_key

    site, chain = wallet_site, wallet_site.chain
    key = "0x" + "6b" * 31 + "02"
    address = Account.from_key(key).address
    house = AuctionHouseClient.from_manifest(chain, site.world.manifest)
    pair = make_devices(2, chain.accounts[3:4], seed=77, tags=("walletpair",))
    check_in(chain, site.world.manifest, pair)
    open_auctions_for(site.world, pair, duration_s=3600)
    index(chain, site.world.manifest, site.world.database_url)
    rated, silent = pair
    ctx, page, relay = wallet_page(browser, site, provider_bundle, key=key)
    try:
        sign_in_and_bid(page, site, "walletpair", 2)
        chain.time_travel(3700)
        page.goto(f"{site.url}/auctions/")
        press_twice(page, page.locator("#settle-form"), "settle 2 auction(s)")
        assert {house.auction(d.auction_id).state for d in pair} == {"awaiting_key"}
        token = deliver_key(site.world, rated, rated.auction_id)

        # A rating pays at least the minimum rating fee: the bid's own fee (0 here) is topped up from the
        # free deposit, which the wallet tops up first (the page said so when it was empty).
        page.goto(f"{site.url}/wallet/")
        deposit = page.locator("#deposit-form")
        deposit.locator("input[name=amount]").fill("0.001")
        press_twice(page, deposit, "deposit 1000000000000000 wei")
        page.goto(f"{site.url}/auctions/")
        press_twice(page, page.locator(f"tr[data-auction='{rated.auction_id}'] form.rate-form"),
                    f"rate auction #{rated.auction_id}: 5")
        assert house.auction(rated.auction_id).state == "rated"

        chain.time_travel(3700)  # past the silent device's delivery window
        page.goto(f"{site.url}/auctions/")
        row = page.locator(f"tr[data-auction='{silent.auction_id}']")
        before = house.balance_of(address).free
        press_twice(page, row.locator("form[data-wallet-action=reclaim]"), f"reclaim auction #{silent.auction_id}")
        assert house.auction(silent.auction_id).state == "reclaimed"
        paid = house.balance_of(address).free - before
        assert paid > 0

        page.goto(f"{site.url}/wallet/")
        free = house.balance_of(address).free
        eth_before = chain.balance(address)
        form = page.locator("#withdraw-form")
        form.locator("input[name=amount]").fill(format_eth(free + 1))  # one wei too many: refused, nothing sent
        form.locator("button[type=submit]").click()
        refused = form.locator("output.wallet-cost.error")
        refused.wait_for()
        assert f"InsufficientFreeBalance({free}, {free + 1})" in refused.inner_text()
        assert house.balance_of(address).free == free
        assert page.console_errors == ["Failed to load resource: the server responded with a status of 400 (BAD REQUEST)"]
        page.console_errors.clear()  # that 400 was the refusal; no other error is allowed
        form.locator("input[name=amount]").fill(format_eth(free))
        press_twice(page, form, f"withdraw {free} wei")
        assert house.balance_of(address).free == 0
        assert chain.balance(address) > eth_before  # the wallet got it, less its fee
        # key, deposit, 1 bid batch, settle, deposit for the rating fee, rate, reclaim, withdraw
        assert relay.asked.count("eth_sendTransaction") == 8
        assert page.console_errors == []
    finally:
        ctx.close()
    found = secrets_found([key, delivery_key_of(key).hex(), token], site.recorder.seen, site.logs.lines(), site.tmp)
    assert found == [], found


def test_sealed_bids_committed_by_the_wallet_and_revealed_from_another_machine(browser, wallet_site, provider_bundle):
    """Commit sealed bids on three devices with the wallet; the salts come from the wallet and never reach the
    server before the reveal, the amounts reach it only sealed. Then a fresh browser (nothing kept from the
    first) with the same wallet reveals them in one wallet-signed transaction."""
    from eth_account import Account

    from exchange.chain.auction import AuctionHouseClient
    from frontend.devworld import check_in, index, make_devices, open_auctions_for
    from frontend.wallet_sealed import WalletSealedStore

    site, chain = wallet_site, wallet_site.chain
    key = "0x" + "7c" * 31 + "03"
    address = Account.from_key(key).address
    house = AuctionHouseClient.from_manifest(chain, site.world.manifest)
    trio = make_devices(3, chain.accounts[4:5], seed=78, tags=("walletsealed",))
    check_in(chain, site.world.manifest, trio)
    open_auctions_for(site.world, trio, duration_s=3600, mechanism="sealed-second-price")
    index(chain, site.world.manifest, site.world.database_url)
    ctx, page, relay = wallet_page(browser, site, provider_bundle, key=key)
    try:
        sign_in_and_bid(page, site, "walletsealed", 3)
        assert "sealed bid committed" in page.content()
        assert page.console_errors == []
    finally:
        ctx.close()
    store = WalletSealedStore(site.tmp / "keystores" / "wallet-sealed")
    salts, amounts = {}, {}
    for d in trio:
        commitment, deposit = house.commit_of(d.auction_id, address)
        box = store.get(address, chain.chain_id, house.address, d.auction_id)
        amounts[d.auction_id] = sealed_amount_of(key, chain.chain_id, house.address, d.auction_id, box)
        salts[d.auction_id] = sealed_salt_of(key, chain.chain_id, house.address, d.auction_id)
        assert amounts[d.auction_id] <= deposit
        assert commitment == house.commitment(address, d.auction_id, amounts[d.auction_id], salts[d.auction_id])
    before_reveal = len(site.recorder.seen)
    assert secrets_found([s.hex() for s in salts.values()], site.recorder.seen, site.logs.lines(), site.tmp) == []

    chain.time_travel(3700)  # bidding over: the reveal window
    ctx, page, relay = wallet_page(browser, site, provider_bundle, key=key)  # another machine: nothing kept
    try:
        page.goto(f"{site.url}/account/signin?next=/auctions/")
        page.click("#wallet-signin")
        page.wait_for_url(re.compile(r"/auctions/$"))
        press_twice(page, page.locator("#reveal-form"), "reveal 3 sealed bid(s)")
        assert relay.asked.count("eth_sendTransaction") == 1
        assert page.locator("#reveal-form").count() == 0
        assert page.locator("#auctions td", has_text="sealed (").count() == 0  # every bid's amount now shows
        assert page.console_errors == []
    finally:
        ctx.close()
    for d in trio:  # the only bidder: each revealed bid leads its auction
        info = house.auction(d.auction_id)
        assert (info.first, info.first_amount) == (address, amounts[d.auction_id])
    # The salts reached the server with the reveal (they are public on chain from then on), never before.
    assert secrets_found([s.hex() for s in salts.values()], site.recorder.seen[:before_reveal], [], site.tmp) == []
    found = secrets_found([key, *wallet_secrets_of(key)], site.recorder.seen, site.logs.lines(), site.tmp)
    assert found == [], found


def test_device_data_read_with_the_one_key_the_user_hands_over(browser, wallet_site, provider_bundle):
    """Win the real device's auction with the wallet, open its key in the browser, read the device from the
    browser directly (CORS), then hand that one key to the data viewer: the device answers both. The key reaches the server in that one request only (no log, no
    file); a key that is not this auction's, or not the device's, is refused with the reason."""
    from eth_account import Account

    from exchange.chain.auction import AuctionHouseClient
    from frontend.devworld import index, open_auctions_for

    site, chain, real = wallet_site, wallet_site.chain, wallet_site.real
    key = "0x" + "8d" * 31 + "04"
    address = Account.from_key(key).address
    house = AuctionHouseClient.from_manifest(chain, site.world.manifest)
    device = site.world.by_id(real.hex)
    open_auctions_for(site.world, [device], duration_s=3600)
    index(chain, site.world.manifest, site.world.database_url)
    ctx, page, _relay = wallet_page(browser, site, provider_bundle, key=key)
    try:
        sign_in_and_bid(page, site, "walletdata", 1)
        chain.time_travel(3700)
        page.goto(f"{site.url}/auctions/")
        press_twice(page, page.locator("#settle-form"), "settle 1 auction(s)")
        assert real.deliver_keys(site.world) == [device.auction_id]
        assert house.auction(device.auction_id).first == address

        page.goto(f"{site.url}/keys/{device.auction_id}")
        assert page.locator("#read-through-server").is_hidden()  # nothing is sent before the key is opened
        page.click("button.open-key")
        token = page.locator("output.opened code.token")
        token.wait_for()
        token = token.inner_text()
        # First straight from the device (its WoT server answers CORS): the key goes to the device only.
        page.click("#read-direct")
        page.locator("#charts[data-ready='1']").wait_for()
        assert page.locator("#charts .chart-errors").count() == 0  # the device took the key, cross-origin
        assert page.locator("#charts canvas.chart").count() > 0
        asked_before = len(site.recorder.holds(token.encode()))
        shot(page, "wallet-03a-data-direct")
        page.click("#read-through-server")
        page.locator("#charts[data-ready='1']").wait_for()
        assert page.locator("#charts .chart-errors").count() == 0  # the device took the key
        status = page.locator("#charts .chart-status").inner_text()
        assert page.locator("#charts canvas.chart").count() > 0 or status.startswith("no readings yet"), status
        shot(page, "wallet-03-data-viewer")

        # Keys that are not this auction's: a forged signature, and another auction's number.
        url = f"/keys/{device.auction_id}/data.json"
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        other = f"/keys/{device.auction_id + 1}/data.json"
        answers = page.evaluate("""async ([url, other, forged, token]) => {
          const csrf = document.querySelector('meta[name="csrf-token"]').content;
          const post = async (u, t) => { const r = await fetch(u, {method: 'POST', body: JSON.stringify({token: t}),
            headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf}}); return [r.status, (await r.json()).error]; };
          return [await post(url, forged), await post(url, 'x'), await post(other, token)];
        }""", [url, other, forged, token])
        assert answers[0][0] == 400 and "is not this device's key" in answers[0][1], answers
        assert answers[1][0] == 400 and "is not this device's key" in answers[1][1], answers
        assert answers[2][0] == 404 and "no key of yours" in answers[2][1], answers
    finally:
        ctx.close()
    holding = site.recorder.holds(token.encode())
    # The hand-over, and the refused try on another auction's page: nowhere else.
    assert asked_before == 0 and [r.split(b"?")[0] for r in holding] == [f"POST {url}".encode(), f"POST {other}".encode()]
    found = secrets_found([token], [], site.logs.lines(), site.tmp)
    assert found == [], found
    found = secrets_found([key, *wallet_secrets_of(key)], site.recorder.seen, site.logs.lines(), site.tmp)
    assert found == [], found


def test_tangle_transfers_signed_in_the_browser_with_the_wallet_derived_key(browser, wallet_site, provider_bundle):
    """The wallet page derives the tangle wallet from the wallet (the same address any machine finds), the dev
    faucet funds it, and a transfer built, signed and proof-of-worked in the browser reaches the recipient.
    A transfer too large is refused before anything is sent; one signed by another key is refused by the
    server; no request, log or file holds the wallet's key or anything derived from it."""

    from exchange.tangle import tx as txm
    from exchange.tangle.client import TangleClient
    from exchange.tangle.wallet import Wallet

    site = wallet_site
    key = "0x" + "9e" * 31 + "05"
    mine = tangle_wallet_of(key)
    to = Wallet.generate().address
    node = TangleClient(site.app.extensions["thingbid.services"].tangle_url)
    ctx, page, relay = wallet_page(browser, site, provider_bundle, key=key)
    try:
        page.goto(f"{site.url}/account/signin?next=/wallet/")
        page.click("#wallet-signin")
        page.wait_for_url(re.compile(r"/wallet/$"))
        assert page.locator("#tangle-send-form").is_hidden()  # nothing to send from before the key is derived
        page.click("#tangle-derive")
        page.locator("section[data-tangle-ready='1']").wait_for()
        assert page.locator("#tangle-address").inner_text() == mine.address
        page.fill("#faucet-form input[name=amount]", "1000")
        with page.expect_navigation():
            page.click("#faucet-form button[type=submit]")
        assert node.balance(mine.address) == 1000
        page.click("#tangle-derive")
        page.locator("#tangle-balance", has_text="1000").wait_for()

        form = page.locator("#tangle-send-form")
        form.locator("input[name=to]").fill(to)
        form.locator("input[name=amount]").fill("1001")
        form.locator("button[type=submit]").click()
        form.locator("output.wallet-cost.error", has_text="too low to send 1001").wait_for()
        form.locator("input[name=amount]").fill("7")
        form.locator("button[type=submit]").click()
        form.locator("output.wallet-cost", has_text="sent 7 to").wait_for()
        assert "(confirmed)" in form.locator("output.wallet-cost").inner_text()
        assert node.balance(to) == 7
        assert node.balance(mine.address) == 993
        page.locator("#tangle-history tbody tr.out").first.wait_for()

        # A transfer from another key, posted by the page itself: the session sends from its own address only.
        other = Wallet.generate()
        forged = other.transfer_bytes(node, to, 1)
        answer = page.evaluate("""async (tx) => {
          const csrf = document.querySelector('meta[name="csrf-token"]').content;
          const r = await fetch('/wallet-tx/tangle/submit', {method: 'POST', body: JSON.stringify({tx}),
            headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf}});
          return [r.status, (await r.json()).error];
        }""", forged.hex())
        assert answer[0] == 400 and "must be signed by your tangle address" in answer[1], answer
        assert relay.asked.count("eth_sendTransaction") == 0  # tangle transfers need no Ethereum transaction
        assert txm.decode(forged).sender == other.address
    finally:
        ctx.close()
    found = secrets_found([key, *wallet_secrets_of(key)], site.recorder.seen, site.logs.lines(), site.tmp)
    assert found == [], found


def test_a_stream_bought_paid_and_read_in_the_browser_with_the_wallet(browser, wallet_site, provider_bundle):
    """Buy three messages of the real device's stream from a wallet session: the payment is signed in the browser
    with the wallet-derived tangle key, the device's answer is opened there with the wallet-derived X25519 key,
    and the channel's messages are checked and decrypted there. The channel root (its read and grant keys)
    never reaches the server, nor any log or file; neither does the wallet's key or anything derived from it."""
    import json as jsonmod

    from exchange.crypto import open_sealed
    from exchange.streams.channel import ChannelRoot
    from exchange.streams.protocol import answer_tag, open_doc
    from exchange.streams.seller import ROOT_CONTEXT
    from exchange.tangle.client import TangleClient
    from frontend.stream_ops import reader_ledger

    site, real = wallet_site, wallet_site.real
    key = "0x" + "af" * 31 + "06"
    mine = tangle_wallet_of(key)
    services = site.app.extensions["thingbid.services"]
    node = TangleClient(services.tangle_url)
    node.wait_confirmed(node.faucet(mine.address, 100), timeout=15)
    real.start_stream()
    ctx, page, relay = wallet_page(browser, site, provider_bundle, key=key)
    try:
        page.goto(f"{site.url}/account/signin?next=/streams/offers%3Fdevice_id%3D0x{real.hex}")
        page.click("#wallet-signin")
        page.wait_for_url(re.compile(r"/streams/offers"))
        form = page.locator("form[data-wallet-stream]")
        form.locator("input[name=span]").fill("3")
        form.locator("button[type=submit]").click()
        page.locator("#wallet-stream[data-ended='1']").wait_for(timeout=90_000)
        readings = page.locator("#wallet-stream-readings li").all_inner_texts()
        assert len(readings) == 3 and all("temperature=" in r for r in readings), readings
        assert page.locator("#wallet-stream").get_attribute("data-sold") == "3"
        assert "ended · 3 reading(s)" in page.locator("#wallet-stream-status").inner_text()
        assert relay.asked.count("eth_sendTransaction") == 0
        assert page.console_errors == []
    finally:
        ctx.close()
    assert node.balance(mine.address) == 100 - 2 * 3
    # The root the device sealed to this wallet, opened here with the key the browser derived: its keys are
    # what must never have left the browser.
    items, _ = node.find(address=mine.address, kind="value")
    memo = next(jsonmod.loads(bytes.fromhex(t["payload"]["memo"])) for t in items if t["payload"]["memo"])
    answers, _ = reader_ledger(services).read(answer_tag(memo["id"]))
    body, _ = open_doc(answers[0].data, bytes.fromhex(real_public(real)))
    root = ChannelRoot.from_bytes(open_sealed(delivery_key_of(key), bytes.fromhex(body["box"]),
                                              ROOT_CONTEXT + bytes.fromhex(memo["id"])))
    found = secrets_found([root.key, root.grant_key, key, *wallet_secrets_of(key)], site.recorder.seen,
                          site.logs.lines(), site.tmp)
    assert found == [], found


def real_public(real) -> str:
    from exchange.crypto import ed25519_public

    return ed25519_public(real.ed_private).hex()
