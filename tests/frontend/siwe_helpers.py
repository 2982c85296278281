"""EIP-4361 messages written out field by field and signed by a real key (unique module name: tests/ is not a package).

Not built by the code under test, so a verifier that skipped a check would let a bad message in.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eth_account import Account
from eth_account.messages import encode_defunct

from tests.frontend.fe_helpers import csrf_of

WALLET = Account.from_key("0x" + "11" * 32)
OTHER = Account.from_key("0x" + "22" * 32)
STATEMENT = "Sign in to Thingbid. This signature costs nothing and moves no funds."


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def eip4361(*, domain: str, address: str, uri: str, chain_id: int, nonce: str, issued: datetime,
            expires: datetime | None) -> str:
    lines = [f"{domain} wants you to sign in with your Ethereum account:", address, "", STATEMENT, "",
             f"URI: {uri}", "Version: 1", f"Chain ID: {chain_id}", f"Nonce: {nonce}", f"Issued At: {iso(issued)}"]
    if expires is not None:
        lines.append(f"Expiration Time: {iso(expires)}")
    return "\n".join(lines)


def sign(account, message: str) -> str:
    return "0x" + account.sign_message(encode_defunct(text=message)).signature.hex().removeprefix("0x")


def start(client) -> tuple[dict, str]:
    """A nonce for this browser, and the page's CSRF token."""
    token = csrf_of(client)
    site = client.get("/siwe/nonce.json").get_json()
    return site, token


def good_fields(site: dict, **changes) -> dict:
    now = datetime.now(UTC)
    fields = {"domain": site["domain"], "address": WALLET.address, "uri": site["uri"], "chain_id": site["chain_id"],
              "nonce": site["nonce"], "issued": now, "expires": now + timedelta(minutes=5)}
    fields.update(changes)
    return fields


def post_verify(client, token: str, message: str, signature: str):
    return client.post("/siwe/verify", json={"message": message, "signature": signature},
                       headers={"X-CSRF-Token": token})


def wallet_sign_in(client, account=WALLET):
    """Sign ``client`` in with ``account`` through /siwe; returns the new page's CSRF token."""
    site, token = start(client)
    msg = eip4361(**good_fields(site, address=account.address))
    r = post_verify(client, token, msg, sign(account, msg))
    assert r.status_code == 200, r.get_json()
    return csrf_of(client, "/account/")
