"""Stream purchases with the user's tangle wallet, followed in a background thread.

Each purchase belongs to the address that made it; readings are buffered here (bounded)
and handed to the page by cursor, so the browser only ever talks to this app.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

from frontend.errors import FormError, FormRefusal, FrontendError

MAX_BUFFER = 5000


@dataclass
class StreamSession:
    id: str
    owner: str
    device_id: str
    stream: str
    span: int
    price: int
    state: str = "paying"  # paying, active, ended, failed
    error: str = ""
    sold: int = 0
    refund: int = 0
    readings: list[dict] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def since(self, cursor: int) -> tuple[list[dict], int]:
        with self._lock:
            return self.readings[cursor:], len(self.readings)


def user_ledger(services, user):
    from exchange.ledger.tangle import TangleLedger

    if user.tangle_wallet is None:
        raise FrontendError("no tangle wallet: a wallet session pays on the tangle from the browser"
                            if user.is_wallet else "no tangle wallet: the tangle package is unavailable")
    return TangleLedger(services.tangle(), user.tangle_wallet)


class RegistryView:
    """The device records offers are checked against: the DeviceRegistry on the operator's chain
    (exchange.streams.records), read under the app's chain guard (eth-tester is not thread-safe)."""

    def __init__(self, services):
        from exchange.chain.registry import RegistryClient
        from exchange.streams.records import RegistryRecords

        self.services = services
        chain = services.base_chain()
        self.inner = RegistryRecords(RegistryClient.from_manifest(chain, services.manifest))

    def record(self, device_id: str):
        with self.services.chain_guard():
            return self.inner.record(device_id)


def reader_ledger(services):
    """The tangle for reading only (offers, answers, channel messages): a throwaway wallet that never signs.
    A wallet session's own tangle key lives in its browser."""
    from exchange.ledger.tangle import TangleLedger
    from exchange.tangle.wallet import Wallet

    return TangleLedger(services.tangle(), Wallet.generate())


def stream_buyer(services, user):
    from exchange.streams.buyer import StreamBuyer

    if user.is_wallet:  # reads only: the browser pays, and opens the answer with its own key
        return StreamBuyer(reader_ledger(services), registry=RegistryView(services))
    return StreamBuyer(user_ledger(services, user), user.x25519_private, registry=RegistryView(services))


def list_offers(services, user, device_id: str):
    return stream_buyer(services, user).offers(device_id)


def _reading_values(r) -> dict:
    """The numeric fields of a reading (for the live chart); anything else is ignored."""
    try:
        data = r.json()
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k)[:50]: v for k, v in data.items()
            if k != "t" and isinstance(v, int | float) and not isinstance(v, bool) and v == v}


MAX_TIME = 253402300799  # 9999-12-31T23:59:59Z: a larger "t" is shown as the number it is


def _value_text(v) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)


def _reading_text(r) -> str:
    """One reading as plain text ("time 14:21:28 UTC, doorOpen=no, temperature=4.2"): the page
    sets it as textContent, so device data never becomes markup."""
    try:
        data = r.json()
    except ValueError:
        return r.data[:200].decode("utf-8", "replace")
    if not isinstance(data, dict):
        return str(data)
    parts = []
    t = data.get("t")
    if isinstance(t, int | float) and not isinstance(t, bool) and 0 <= t <= MAX_TIME:
        parts.append("time " + time.strftime("%H:%M:%S", time.gmtime(int(t))) + " UTC")
        data = {k: v for k, v in data.items() if k != "t"}
    parts += [f"{k}={_value_text(v)}" for k, v in sorted(data.items(), key=lambda kv: str(kv[0]))]
    return ", ".join(parts)


class StreamManager:
    def __init__(self):
        self._sessions: dict[str, StreamSession] = {}
        self._lock = threading.Lock()

    def buy(self, services, user, device_id: str, stream: str, span: int) -> StreamSession:
        buyer = stream_buyer(services, user)
        offer = buyer.offer(device_id, stream)  # PurchaseError if the device offers no such stream
        if span > offer.max_span:
            raise FormError("span", f"must be at most {offer.max_span}: the most messages this stream sells at once")
        balance = buyer.ledger.balance()
        if balance < offer.price * span:
            raise FormRefusal("span", f"Your tangle balance ({balance}) is too low to pay {offer.price * span} "
                                      f"for {span} messages.")
        s = StreamSession(secrets.token_urlsafe(12), user.address, device_id, offer.stream, span, offer.price)
        with self._lock:
            self._sessions[s.id] = s

        def run():
            try:
                t0 = time.monotonic()
                with user.tx_lock:  # the wallet's transfers are sequenced: one at a time per user
                    req, ref, paid = buyer.pay(offer, span)
                purchase = buyer.await_answer(offer, req, ref, paid, timeout=60, started=t0)
                s.sold, s.refund = purchase.sold, purchase.refund
                s.state = "active"
                follower = buyer.follower(purchase)
                for r in follower.follow(timeout=3600):
                    with s._lock:
                        if len(s.readings) < MAX_BUFFER:
                            s.readings.append({"seq": r.seq, "text": _reading_text(r),
                                           "values": _reading_values(r)})
                s.state = "ended"
            except Exception as exc:  # noqa: BLE001 - shown to the owner on the stream page
                s.error = f"{type(exc).__name__}: {exc}"
                s.state = "failed"

        threading.Thread(target=run, name=f"stream-{s.id}", daemon=True).start()
        return s

    def get(self, sid: str, owner: str) -> StreamSession | None:
        with self._lock:
            s = self._sessions.get(sid)
        return s if s is not None and s.owner.lower() == owner.lower() else None

    def of(self, owner: str) -> list[StreamSession]:
        with self._lock:
            return sorted((s for s in self._sessions.values() if s.owner.lower() == owner.lower()),
                          key=lambda s: -s.started)
