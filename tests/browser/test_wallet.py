"""The browser wallet (issue 18) in Debian chromium: an injected EIP-1193 wallet with a real key signs in.

The wallet signs with viem's local account and talks to the same anvil the app uses; the server
never sees its key. Bad sign-in messages signed by that wallet are refused with a JSON reason.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.browser.wallet_helpers import RequestRecorder, bundle_provider, install_wallet

pytestmark = [pytest.mark.browser, pytest.mark.anvil]
KEY = "0x" + "5a" * 31 + "01"


@pytest.fixture(scope="module")
def provider_bundle(tmp_path_factory):
    return bundle_provider(tmp_path_factory.mktemp("wallet-js"))


@pytest.fixture(scope="module")
def wallet_site(anvil_process, tmp_path_factory):
    """Anvil (reverted afterwards) with the contracts, the app on a real server, every request recorded."""
    from exchange.chain.connect import rpc_chain
    from exchange.chain.deploy import deploy_all
    from frontend import create_app
    from frontend.services import Services
    from tests.browser.conftest import ServerThread

    tmp = tmp_path_factory.mktemp("wallet")
    chain = rpc_chain(anvil_process.url, kind="anvil")
    snap = chain.w3.provider.make_request("evm_snapshot", [])["result"]
    manifest, _ = deploy_all(chain, tmp / "deployments", fresh=True)
    services = Services(rpc_chain(anvil_process.url), manifest, f"sqlite:///{tmp / 'catalog.db'}", "http://127.0.0.1:9",
                        tmp / "keystores", dev_faucet=True)
    app = create_app({"THINGBID_SERVICES": services, "BIND_HOST": "127.0.0.1"})
    recorder = RequestRecorder(app.wsgi_app)
    app.wsgi_app = recorder
    with ServerThread(app) as server:
        yield type("WalletSite", (), {"url": server.url, "app": app, "chain": chain, "rpc": anvil_process.url,
                                      "recorder": recorder})
    chain.w3.provider.make_request("evm_revert", [snap])


def wallet_page(browser, site, bundle, chain_id=None):
    ctx = browser.new_context()
    relay = install_wallet(ctx, bundle, KEY, site.rpc, chain_id=chain_id)
    page = ctx.new_page()
    page.set_default_timeout(15_000)
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
