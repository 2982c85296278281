"""Account: sign-in page (wallet, or the local keystore on loopback), create/import a keystore, sign out.

The keystore routes unlock a key into this process, so they answer only on a loopback frontend
(``frontend.wallet_auth.keystore_mode_allowed``); elsewhere they refuse with 403 and a reason.
"""

from __future__ import annotations

import json

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for

from frontend.errors import FormError
from frontend.forms import parse_password, parse_private_key, parse_username
from frontend.security import UserSession, current_user, require_user
from frontend.userkeys import derive_x25519, make_tangle_wallet
from frontend.wallet_auth import (
    KEYSTORE_REFUSAL,
    KeystoreModeRefused,
    came_through_loopback,
    keystore_mode_allowed,
)

bp = Blueprint("account", __name__, url_prefix="/account")


def _services():
    return current_app.extensions["thingbid.services"]


def _keystore_path(username: str):
    return _services().keystore_dir / f"{username}.json"


def _safe_next(raw: str | None) -> str:
    # Only same-site paths: never an open redirect.
    if raw and raw.startswith("/") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return url_for("catalog.search")


def keystore_mode() -> bool:
    """Whether this request may use the server-side keystore (a loopback frontend only)."""
    return (keystore_mode_allowed(current_app.config.get("BIND_HOST"), current_app.config.get("PUBLIC_URL"),
                                  request.remote_addr, request.host)
            and came_through_loopback(request.headers))


@bp.before_request
def refuse_keystore_off_loopback():
    if request.endpoint in ("account.signin", "account.create") and request.method == "POST" and not keystore_mode():
        raise KeystoreModeRefused(KEYSTORE_REFUSAL)


def restore_user(services):
    """``restore(username, address, private_key)`` for the vault: a session another worker started,
    built here again as ``sign_in`` built it (no keystore decryption: the key came from the sealed row)."""
    from eth_account import Account

    def restore(username: str, address: str, key: bytes | None) -> UserSession:
        if key is None:  # a wallet session: an address, no key
            return UserSession(username=username, account=None, x25519_private=None, wallet_address=address)
        account = Account.from_key(key)
        user = UserSession(username=username, account=account, x25519_private=derive_x25519(account.key))
        user.chain = services.signer_chain(account)
        user.tangle_wallet = make_tangle_wallet(account.key)
        return user

    return restore


def sign_in(username: str, password: str, account=None) -> UserSession:
    """Unlock ``username``'s keystore and keep the key in the vault for this session only.

    ``account``: the key just written to a new keystore (saves a second scrypt decryption).
    """
    from exchange.chain.connect import load_keystore
    from exchange.errors import KeystoreError

    path = _keystore_path(username)
    if not path.exists():
        raise FormError("username", "has no account here (create or import one)")
    if account is None:
        try:
            account = load_keystore(path, password)
        except KeystoreError:
            raise FormError("password", "is wrong") from None
    services = _services()
    user = UserSession(username=username, account=account, x25519_private=derive_x25519(account.key))
    user.chain = services.signer_chain(account, path, password)
    user.tangle_wallet = make_tangle_wallet(account.key)
    vault = current_app.extensions["thingbid.vault"]
    vault.forget(session.get("sid"))
    session.clear()  # fresh session id and CSRF token on every sign-in (no fixation)
    session["sid"] = vault.put(user)
    session["username"] = username
    session.permanent = True
    if services.dev_faucet:
        from frontend.wallet_ops import dev_fund

        dev_fund(services, account.address)
    return user


@bp.route("/signin", methods=["GET", "POST"])
def signin():
    if request.method in ("GET", "HEAD"):
        nxt = request.args.get("next", "")
        return render_template("account/signin.html", next=nxt, next_url=_safe_next(nxt), keystore=keystore_mode())
    limiter = current_app.extensions["thingbid.login_limiter"]
    user_limiter = current_app.extensions["thingbid.login_user_limiter"]
    raw_name = (request.form.get("username") or "").strip().lower()[:64]
    # Per client and per (user, client): one guesser is stopped without locking the user out
    # everywhere; the per-user limit, much higher, bounds guessing spread over many clients.
    keys = (f"ip:{request.remote_addr}", f"user:{raw_name}@{request.remote_addr}")
    wait = max(limiter.blocked(*keys), user_limiter.blocked(f"user:{raw_name}"))
    if wait > 0:
        return render_template("account/signin.html", error=f"too many failed sign-ins: try again in {int(wait) + 1} s",
                               next=request.form.get("next", ""), next_url=_safe_next(request.form.get("next")),
                               keystore=True), 429
    try:
        username = parse_username(raw_name)
        password = request.form.get("password") or ""
        if not password:
            raise FormError("password", "is required")
        sign_in(username, password)
    except FormError as exc:
        limiter.charge(*keys)
        user_limiter.charge(f"user:{raw_name}")
        return render_template("account/signin.html", error=str(exc), next=request.form.get("next", ""),
                               next_url=_safe_next(request.form.get("next")), keystore=True), 400
    limiter.reset(keys[1])
    return redirect(_safe_next(request.form.get("next")))


@bp.route("/create", methods=["GET", "POST"])
def create():
    if request.method in ("GET", "HEAD"):
        if not keystore_mode():
            raise KeystoreModeRefused(KEYSTORE_REFUSAL)
        return render_template("account/create.html")
    from exchange.chain.connect import create_keystore

    limiter = current_app.extensions["thingbid.create_limiter"]
    key = f"ip:{request.remote_addr}"
    if limiter.blocked(key) > 0:
        return render_template("account/create.html", error="too many accounts created from here: wait a minute"), 429
    limiter.charge(key)
    try:
        username = parse_username(request.form.get("username"))
        password = parse_password(request.form.get("password"), request.form.get("confirm"))
        key = None
        mode = request.form.get("mode", "new")
        if mode == "private_key":
            key = parse_private_key(request.form.get("private_key"))
        elif mode == "keystore":
            key = _key_from_upload(password)
        elif mode != "new":
            raise FormError("mode", "must be new, private_key or keystore")
        path = _keystore_path(username)
        if path.exists():
            raise FormError("username", "is taken")
        from eth_account import Account

        account = Account.from_key(key) if key else Account.create()
        n = current_app.config.get("KEYSTORE_SCRYPT_N")
        if n:  # tests only: a cheaper scrypt; the default is eth-account's (n = 2**18)
            _write_keystore(path, Account.encrypt(account.key, password, kdf="scrypt", iterations=int(n)))
        else:
            create_keystore(path, password, private_key=bytes(account.key))
        sign_in(username, password, account)
    except FormError as exc:
        return render_template("account/create.html", error=str(exc)), 400
    flash("Keystore created and unlocked. It is stored encrypted; only your password opens it.")
    return redirect(url_for("account.overview"))


def _write_keystore(path, data: dict) -> None:
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)


def _key_from_upload(password: str) -> bytes:
    from eth_account import Account

    f = request.files.get("keystore")
    if f is None or not f.filename:
        raise FormError("keystore", "is missing: choose a keystore JSON file")
    raw = f.read(64 * 1024 + 1)
    if len(raw) > 64 * 1024:
        raise FormError("keystore", "is too large for a keystore")
    try:
        data = json.loads(raw)
        return bytes(Account.decrypt(data, password))
    except (ValueError, TypeError, KeyError):
        raise FormError("keystore", "is not a JSON keystore, or the password does not open it") from None


@bp.route("/signout", methods=["POST"])
def signout():
    current_app.extensions["thingbid.vault"].forget(session.get("sid"))
    session.clear()
    return redirect(url_for("account.signin"))


@bp.route("/")
def overview():
    user = require_user()
    from frontend.wallet_ops import account_summary

    return render_template("account/overview.html", user=user,
                           summary=account_summary(_services(), user))


@bp.route("/whoami.json")
def whoami():
    user = current_user()
    return {"signed_in": user is not None, "address": user.address if user else None,
            "mode": None if user is None else ("wallet" if user.is_wallet else "keystore")}
