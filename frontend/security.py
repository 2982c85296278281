"""Security plumbing: CSRF, headers, and the in-memory key vault (login throttling: exchange.ratelimit).

The browser only ever holds a signed cookie with a random session id; the decrypted
Ethereum key (and the keys derived from it) live in ``KeyVault`` in this process, keyed by
that id, and are dropped on sign-out or after idle expiry.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

from flask import abort, current_app, g, has_request_context, request, session

from frontend.errors import FrontendError

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
    # One signing flow at a time per user: two jobs must not race for the same account nonce.
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
    """Session id -> unlocked user, in memory only, with idle expiry."""

    def __init__(self, idle_s: float = 3600):
        self.idle = idle_s
        self._users: dict[str, UserSession] = {}
        self._lock = threading.Lock()

    def put(self, user: UserSession) -> str:
        sid = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            for old in [k for k, u in self._users.items() if now - u.last_seen > self.idle]:
                del self._users[old]  # idle keys leave memory even if their session never returns
            self._users[sid] = user
        return sid

    def get(self, sid: str | None) -> UserSession | None:
        if not sid:
            return None
        now = time.monotonic()
        with self._lock:
            user = self._users.get(sid)
            if user is None:
                return None
            if now - user.last_seen > self.idle:
                del self._users[sid]
                return None
            user.last_seen = now
            return user

    def forget(self, sid: str | None) -> None:
        with self._lock:
            self._users.pop(sid or "", None)

    def __len__(self) -> int:
        return len(self._users)


def current_user() -> UserSession | None:
    if "user" not in g:
        g.user = current_app.extensions["thingbid.vault"].get(session.get("sid"))
    return g.user


def require_user() -> UserSession:
    user = current_user()
    if user is None:
        abort(401)
    return user
