"""Who may sign in how: wallet (Sign-In with Ethereum) everywhere, the local keystore on loopback only.

A wallet session holds an address and nothing secret: the user's wallet signs in the browser. The
server-side keystore mode unlocks a key into this process, so it is offered only when the frontend
is the user's own (bound to loopback, reached over loopback, not published under a public URL).
"""

from __future__ import annotations

import ipaddress
import secrets
import threading
import time
from urllib.parse import urlsplit

from sqlalchemy import func, select

from frontend.errors import FrontendError
from frontend.webstate import NONCES, create_web_tables

NONCE_TTL_S = 600.0
MAX_NONCES = 100_000  # bounds memory if someone asks for nonces in a loop; oldest go first


class KeystoreModeRefused(FrontendError, PermissionError):
    """The server-side keystore is not offered on this frontend (not loopback)."""


KEYSTORE_REFUSAL = ("The local keystore mode is only for a frontend bound to loopback (your own machine): "
                    "this frontend is reachable from elsewhere, so it never holds keys. Sign in with your wallet.")


def is_loopback_host(host: str | None) -> bool:
    """Whether a host name or address (no port) names this machine only."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_of(netloc: str) -> str:
    """``host`` of ``host:port`` / ``[v6]:port``."""
    return urlsplit(f"//{netloc}").hostname or ""


def keystore_mode_allowed(bind_host: str | None, public_url: str | None, remote_addr: str | None,
                          request_host: str | None) -> bool:
    """Keystore sign-in only when every sign says the frontend is the user's own machine.

    The bind address decides when known (serve.py, ``thingbid up``); ``bind_host`` None means "not
    told" (an app embedded elsewhere), and then the client must be on loopback. Either way a public
    URL off loopback, or a Host header naming another machine (a reverse proxy), refuses.
    """
    if bind_host is not None:
        if not is_loopback_host(bind_host):
            return False
    elif not is_loopback_host(remote_addr):
        return False
    if public_url and not is_loopback_host(urlsplit(public_url).hostname):
        return False
    return is_loopback_host(host_of(request_host or ""))


# Set by a reverse proxy: the request came from elsewhere, whatever Host and peer address say.
FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Real-IP")


def came_through_loopback(headers) -> bool:
    """Whether nothing in the request says it left another machine's browser or passed a proxy.

    A bare ``proxy_pass http://127.0.0.1:5000`` (nginx's default) sends Host ``127.0.0.1:5000`` from
    127.0.0.1, so Host and peer address alone let the public in. The browser's own Origin and Referer
    name the site it shows, and a proxy's forwarding headers name the client: any of them off
    loopback (or present at all, for the forwarding ones) refuses.
    """
    if any(headers.get(h) for h in FORWARDING_HEADERS):
        return False
    for name in ("Origin", "Referer"):
        value = headers.get(name)
        if value and (value == "null" or not is_loopback_host(urlsplit(value).hostname)):
            return False
    return True


class NonceStore:
    """Sign-in nonces this process issued: each accepted once, within ``ttl_s``."""

    def __init__(self, ttl_s: float = NONCE_TTL_S, limit: int = MAX_NONCES, clock=time.monotonic):
        self.ttl = ttl_s
        self.limit = limit
        self.clock = clock
        self._issued: dict[str, float] = {}  # insertion order = age order
        self._lock = threading.Lock()

    def issue(self) -> str:
        nonce = secrets.token_hex(16)  # EIP-4361: at least 8 alphanumeric characters
        now = self.clock()
        with self._lock:
            self._prune(now)
            while len(self._issued) >= self.limit:
                del self._issued[next(iter(self._issued))]
            self._issued[nonce] = now
        return nonce

    def take(self, nonce: str) -> bool:
        """True once for a nonce issued here and not yet expired; it is gone afterwards."""
        now = self.clock()
        with self._lock:
            issued = self._issued.pop(str(nonce), None)
        return issued is not None and now - issued <= self.ttl

    def _prune(self, now: float) -> None:
        while self._issued:  # oldest first: stop at the first one still fresh
            oldest = next(iter(self._issued))
            if now - self._issued[oldest] <= self.ttl:
                break
            del self._issued[oldest]

    def __len__(self) -> int:
        return len(self._issued)


class DbNonceStore:
    """Sign-in nonces in ``web_nonces``: issued by one worker, taken once by any (a DELETE decides)."""

    def __init__(self, engine, ttl_s: float = NONCE_TTL_S, limit: int = MAX_NONCES, clock=time.time):
        self.engine, self.ttl, self.limit, self.clock = engine, ttl_s, limit, clock
        create_web_tables(engine)

    def issue(self) -> str:
        nonce = secrets.token_hex(16)  # EIP-4361: at least 8 alphanumeric characters
        now = self.clock()
        with self.engine.begin() as c:
            c.execute(NONCES.delete().where(NONCES.c.issued < now - self.ttl))
            n = c.execute(select(func.count()).select_from(NONCES)).scalar_one()
            if n >= self.limit:  # the oldest go first
                oldest = select(NONCES.c.nonce).order_by(NONCES.c.issued).limit(n - self.limit + 1)
                c.execute(NONCES.delete().where(NONCES.c.nonce.in_(oldest.scalar_subquery())))
            c.execute(NONCES.insert().values(nonce=nonce, issued=now))
        return nonce

    def take(self, nonce: str) -> bool:
        """True once for a nonce issued by any worker and not yet expired; it is gone afterwards."""
        with self.engine.begin() as c:
            taken = c.execute(NONCES.delete().where(NONCES.c.nonce == str(nonce)[:64],
                                                    NONCES.c.issued >= self.clock() - self.ttl)).rowcount
        return taken == 1

    def __len__(self) -> int:
        with self.engine.connect() as c:
            return c.execute(select(func.count()).select_from(NONCES)).scalar_one()
