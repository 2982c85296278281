"""Security plumbing: CSRF, headers, and the session vault (login throttling: exchange.ratelimit).

The browser only ever holds a signed cookie with a random session id and the key that seals its
row; ``KeyVault`` keeps the sessions in the database (any worker answers), a local-keystore
session's Ethereum key only sealed under that cookie key, and drops them on sign-out or after
idle expiry. Each worker rebuilds a user it has not seen from the row and the cookie.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import abort, current_app, g, has_request_context, request, session
from sqlalchemy import func, select

from frontend.errors import FrontendError
from frontend.webstate import SESSIONS, create_web_tables, sid_hash

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"

# No inline script or style anywhere: everything comes from /static.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")


class CsrfError(FrontendError):
    """A state-changing request came without the session's CSRF token."""


def csrf_token() -> str:
    """The session's CSRF token (created on first use)."""
    tok = session.get("csrf")
    if not tok:
        tok = secrets.token_urlsafe(32)
        session["csrf"] = tok
    return tok


def check_csrf() -> None:
    """Refuse any unsafe request whose form field or header does not match the session token."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if request.blueprint == "directory":
        return  # read-only and sessionless: its writes answer 405 whoever sends them
    expected = session.get("csrf")
    sent = request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    # Compared as bytes: compare_digest raises TypeError on text with non-ASCII characters (a 500).
    if not expected or not hmac.compare_digest(str(expected).encode(), str(sent).encode("utf-8", "surrogatepass")):
        raise CsrfError("CSRF token missing or wrong: reload the page and try again")


def allow_connect(origin: str) -> None:
    """Let this page's scripts also talk to ``origin`` (scheme://host[:port], checked by the caller):
    the wallet key page reads the device directly with the key the browser opened."""
    g.setdefault("csp_connect", []).append(origin)


def set_security_headers(resp):
    extra = g.get("csp_connect") if has_request_context() else None
    resp.headers["Content-Security-Policy"] = (CSP.replace("connect-src 'self'", "connect-src 'self' " + " ".join(extra))
                                               if extra else CSP)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Referrer-Policy"] = "same-origin"
    resp.headers.setdefault("Cache-Control", "no-store")
    return resp


class WalletSessionError(FrontendError):
    """A server-signed action was asked of a wallet session (the server has no key for it)."""


@dataclass
class UserSession:
    """What a signed-in user has: never serialised, never logged.

    A wallet session (Sign-In with Ethereum) has only ``wallet_address``: no key, no signing chain;
    the browser's wallet signs. A local-keystore session (loopback only) holds the unlocked key.
    """

    username: str
    account: object | None  # eth_account LocalAccount (local keystore mode); None for a wallet
    x25519_private: bytes | None  # for opening keys sealed to this user (local keystore mode)
    tangle_wallet: object | None = None
    chain: object | None = None  # a Chain that signs with this user's key
    # One signing flow at a time per user: two jobs must not race for the same account nonce. Per
    # worker process: a keystore session signs only on loopback; across workers it is not yet shared.
    tx_lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    created: float = field(default_factory=time.monotonic)
    last_seen: float = field(default_factory=time.monotonic)
    wallet_address: str | None = None  # set for a wallet session

    @property
    def address(self) -> str:
        return self.wallet_address if self.account is None else self.account.address

    @property
    def is_wallet(self) -> bool:
        return self.account is None

    def server_signer(self):
        """This user's server-side signing chain; a wallet session has none (its browser signs)."""
        if self.chain is None:
            raise WalletSessionError("this session signs with your browser wallet: the server holds no key to do"
                                     " this for you")
        return self.chain

    def __repr__(self) -> str:  # keep keys out of tracebacks and logs
        return f"UserSession({self.username!r}, {self.address})"


class KeyVault:
    """Session id -> signed-in user, with idle expiry: rows in ``web_sessions`` (any worker answers),
    the users this process rebuilt kept in memory as a cache.

    The session id handed to the cookie is ``<row id>.<cookie key>``: the row is found by a hash of
    the row id, and a local-keystore session's private key is stored only sealed (AES-GCM) under
    the cookie key, which the database never sees. ``restore(username, address, private_key)``
    builds the user again on a worker that has not seen it (its signing chain, derived keys).
    Without an engine (``engine=None``) the vault is this process's memory only.
    """

    def __init__(self, idle_s: float = 3600, engine=None, restore=None, touch_every_s: float = 30.0):
        self.idle = idle_s
        self.engine = engine
        self.restore = restore
        self.touch_every = touch_every_s
        self._users: dict[str, UserSession] = {}  # row id -> user (this process's cache)
        self._lock = threading.Lock()
        if engine is not None:
            create_web_tables(engine)

    def put(self, user: UserSession) -> str:
        rid, cookie_key = secrets.token_urlsafe(24), AESGCM.generate_key(bit_length=256)
        now = time.time()
        with self._lock:
            self._users[rid] = user
        if self.engine is not None:
            sealed = None
            if user.account is not None:
                nonce = secrets.token_bytes(12)
                sealed = nonce + AESGCM(cookie_key).encrypt(nonce, bytes(user.account.key), sid_hash(rid).encode())
            with self.engine.begin() as c:
                c.execute(SESSIONS.delete().where(SESSIONS.c.last_seen < now - self.idle))
                c.execute(SESSIONS.insert().values(sid_hash=sid_hash(rid), username=user.username, address=user.address,
                                                   wallet=user.is_wallet, sealed_key=sealed, created=now,
                                                   last_seen=now))
        return f"{rid}.{cookie_key.hex()}"

    def get(self, sid: str | None) -> UserSession | None:
        if not sid or not isinstance(sid, str):
            return None
        rid, _, key_hex = sid.partition(".")
        if self.engine is None:
            return self._get_memory(rid)
        now = time.time()
        with self.engine.connect() as c:
            row = c.execute(SESSIONS.select().where(SESSIONS.c.sid_hash == sid_hash(rid))).mappings().first()
        if row is None or now - row["last_seen"] > self.idle:
            self.forget(sid)
            return None
        if now - row["last_seen"] > self.touch_every:
            with self.engine.begin() as c:
                c.execute(SESSIONS.update().where(SESSIONS.c.sid_hash == row["sid_hash"]).values(last_seen=now))
        with self._lock:
            user = self._users.get(rid)
        if user is None:
            user = self._rebuild(row, rid, key_hex)
            if user is None:
                return None
            with self._lock:
                self._users[rid] = user
        user.last_seen = time.monotonic()
        return user

    def _rebuild(self, row, rid: str, key_hex: str) -> UserSession | None:
        key = None
        if not row["wallet"]:
            try:
                box = bytes(row["sealed_key"])
                key = AESGCM(bytes.fromhex(key_hex)).decrypt(box[:12], box[12:], sid_hash(rid).encode())
            except (InvalidTag, ValueError, TypeError):
                return None  # a cookie whose key does not open the row: not signed in
        if self.restore is None:
            return None
        return self.restore(row["username"], row["address"], key)

    def _get_memory(self, rid: str) -> UserSession | None:
        now = time.monotonic()
        with self._lock:
            user = self._users.get(rid)
            if user is None:
                return None
            if now - user.last_seen > self.idle:
                del self._users[rid]
                return None
            user.last_seen = now
            return user

    def forget(self, sid: str | None) -> None:
        rid = (sid or "").partition(".")[0] if isinstance(sid, str) else ""
        with self._lock:
            self._users.pop(rid, None)
        if self.engine is not None and rid:
            with self.engine.begin() as c:
                c.execute(SESSIONS.delete().where(SESSIONS.c.sid_hash == sid_hash(rid)))

    def __len__(self) -> int:
        if self.engine is None:
            return len(self._users)
        with self.engine.connect() as c:
            return c.execute(select(func.count()).select_from(SESSIONS)
                             .where(SESSIONS.c.last_seen >= time.time() - self.idle)).scalar_one()


def current_user() -> UserSession | None:
    if "user" not in g:
        g.user = current_app.extensions["thingbid.vault"].get(session.get("sid"))
    return g.user


def require_user() -> UserSession:
    user = current_user()
    if user is None:
        abort(401)
    return user
