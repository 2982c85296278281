"""Sign-In with Ethereum (EIP-4361): the browser's wallet signs a one-time message; the session keeps the address.

``GET /siwe/nonce.json`` issues a single-use nonce with what the message must say (domain, URI,
chain id, how long it may live); the browser builds the EIP-4361 message, the wallet signs it
(``personal_sign``) and ``POST /siwe/verify`` checks it (exchange.chain.signin). No key reaches
this server in this mode.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, jsonify, request, session

from frontend.security import UserSession
from frontend.wallet_auth import NONCE_TTL_S

bp = Blueprint("siwe", __name__, url_prefix="/siwe")
STATEMENT = "Sign in to Thingbid. This signature costs nothing and moves no funds."
MESSAGE_LIFETIME_S = 600


def _services():
    return current_app.extensions["thingbid.services"]


def site_origin() -> str:
    """This site's origin: PUBLIC_URL when configured (a public frontend must set it), else the request's.

    The domain a message names is checked against this, so a public frontend that trusted the
    Host header would accept messages signed for whatever host an attacker sends.
    """
    public = current_app.config.get("PUBLIC_URL")
    if public:
        u = urlsplit(public)
        return f"{u.scheme}://{u.netloc}"
    return request.host_url.rstrip("/")


def policy():
    from exchange.chain.signin import SignInPolicy

    origin = site_origin()
    chain = _services().base_chain()
    with _services().chain_guard():
        chain_id = chain.chain_id
    return SignInPolicy(domain=urlsplit(origin).netloc, origin=origin, chain_id=chain_id,
                        max_lifetime_s=MESSAGE_LIFETIME_S)


def _refuse(reason: str, message: str, status: int = 400):
    return jsonify({"error": message, "reason": reason}), status


@bp.route("/nonce.json")
def nonce():
    p = policy()
    n = current_app.extensions["thingbid.siwe_nonces"].issue()
    session["siwe_nonce"] = n  # bound to this browser too: a nonce fetched elsewhere does not sign in here
    return {"nonce": n, "domain": p.domain, "uri": p.origin + "/", "chain_id": p.chain_id,
            "statement": STATEMENT, "lifetime_s": MESSAGE_LIFETIME_S, "nonce_ttl_s": int(NONCE_TTL_S)}


@bp.route("/verify", methods=["POST"])
def verify():
    from exchange.chain.signin import SignInRefused, verify_sign_in

    limiter = current_app.extensions["thingbid.login_limiter"]
    key = f"ip:{request.remote_addr}"
    wait = limiter.blocked(key)
    if wait > 0:
        return _refuse("rate", f"too many failed sign-ins: try again in {int(wait) + 1} s", 429)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _refuse("malformed", "send JSON {\"message\": ..., \"signature\": ...}")
    expected = session.pop("siwe_nonce", None)
    store = current_app.extensions["thingbid.siwe_nonces"]

    def take(n: str) -> bool:
        # Burn the nonce whatever the outcome: one message per nonce, right or wrong.
        return store.take(n) and expected == n

    try:
        address = verify_sign_in(body.get("message"), body.get("signature"), policy(), take)
    except SignInRefused as exc:
        limiter.charge(key)
        return _refuse(exc.reason, str(exc))
    start_wallet_session(address)
    return {"address": address, "signed_in": True}


def start_wallet_session(address: str) -> UserSession:
    vault = current_app.extensions["thingbid.vault"]
    user = UserSession(username=f"{address[:6]}…{address[-4:]}", account=None, x25519_private=None,
                       wallet_address=address)
    vault.forget(session.get("sid"))
    session.clear()  # fresh session id and CSRF token on every sign-in (no fixation)
    session["sid"] = vault.put(user)
    session["username"] = user.username
    session["wallet"] = address
    session.permanent = True
    services = _services()
    if services.dev_faucet:
        from frontend.wallet_ops import dev_fund

        dev_fund(services, address)
    return user
