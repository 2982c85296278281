"""Stream publishing and micro-sales: the agent's side of exchange.streams on a Ledger.

One stream, ``readings``: every ``publish_every_seconds`` a message with a snapshot of the
properties for sale goes to the device's encrypted channel; payments to the device's
ledger address are answered by ``StreamSeller`` (sealed channel root, key rotation at the
end of every span). The channel writer state (read keys) is kept encrypted with the
device password between restarts; the sale book (no secrets) beside it.

The ledger is selectable (config ``stream_ledgers``): one ``StreamPublisher`` per ledger, each
with its own channel and sale book (files suffixed by the ledger kind, the tangle's unsuffixed).
On Ethereum (``MessageBoard``) the device is paid by credit (pull payment): ``withdraw_due``
moves the credit to its account on the ``withdraw_every_seconds`` schedule.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from pathlib import Path

from device_agent.errors import AgentError
from device_agent.sources.base import SourceError
from device_agent.state import AgentStreamSale
from exchange.crypto import load_keys, save_keys
from exchange.errors import ExchangeError
from exchange.streams import ChannelWriter, StreamSeller

log = logging.getLogger(__name__)
STREAM = "readings"
CHANNELS_FILE = "channels.json"
BOOK_FILE = "stream-sales.json"
STREAM_LEDGERS = ("tangle", "ethereum")


def tangle_wallet(identity):
    """The device's tangle wallet, derived from the seed in its encrypted key file."""
    from exchange.tangle.wallet import Wallet

    return Wallet.from_seed(identity.tangle_seed)


def tangle_ledger(identity, url: str):
    from exchange.ledger.tangle import TangleLedger

    return TangleLedger.connect(url, tangle_wallet(identity))


def ethereum_ledger(agent, chain, manifest: dict, confirmations: int = 0):
    """The device's own account on the deployed MessageBoard, over ``chain`` (which signs for it).

    Calls go through the agent's chain lock: the selling loop sends from the same account over
    the same connection, and two threads sending at once would race for a nonce."""
    from exchange.ledger.ethereum import EthereumLedger

    try:
        board = manifest["contracts"]["MessageBoard"]["address"]
    except (KeyError, TypeError):
        raise AgentError(f"no MessageBoard in the deployment manifest of chain {chain.chain_id}: "
                         "deploy it, or drop \"ethereum\" from stream_ledgers") from None
    return LockedLedger(EthereumLedger.connect(chain, board, agent.address, confirmations), chain.lock)


class LockedLedger:
    """A Ledger whose every call holds ``lock`` (a connection shared with other threads)."""

    def __init__(self, ledger, lock):
        self.inner, self.lock = ledger, lock
        self.kind, self.max_message_size = ledger.kind, ledger.max_message_size

    @property
    def address(self) -> str:
        return self.inner.address

    def __getattr__(self, name):
        fn = getattr(self.inner, name)
        if not callable(fn):
            return fn

        def locked(*args, **kwargs):
            with self.lock:
                return fn(*args, **kwargs)
        return locked


def _suffixed(name: str, kind: str) -> str:
    # The tangle keeps the original file names, so agents from before stream_ledgers resume.
    if kind == "tangle":
        return name
    stem, dot, ext = name.rpartition(".")
    return f"{stem}-{kind}{dot}{ext}"


class StreamPublisher:
    """Publishes readings and answers micro-purchases for one agent on one ledger."""

    def __init__(self, agent, ledger, *, kdf_n: int | None = None, require_consent: bool = False):
        self.agent = agent
        self.ledger = ledger
        self.kdf_n = kdf_n
        self.require_consent = require_consent  # the owner's opt-in gates every write from its account
        self.channels_file = _suffixed(CHANNELS_FILE, ledger.kind)
        ident = agent.identity
        self.seller = StreamSeller(ledger, ident.device_id_hex, ident.ed25519_private,
                                   book_path=agent.data_dir / _suffixed(BOOK_FILE, ledger.kind))
        writer = self._restore_writer()
        price = agent.config.stream_price_per_message
        self.offer = self.seller.add_stream(STREAM, price, writer=writer)

    @property
    def address(self) -> str:
        return self.ledger.address

    def _channels_path(self) -> Path:
        return self.agent.data_dir / self.channels_file

    def _restore_writer(self) -> ChannelWriter | None:
        path = self._channels_path()
        if not path.exists():
            return None
        keys = load_keys(path, self.agent.identity.password)
        state = keys.get(STREAM)
        return ChannelWriter.from_state(self.agent.identity.ed25519_private, json.loads(state)) if state else None

    def save(self) -> None:
        """Persist the channel (sequence, hash link, keys) encrypted, so a restart continues it."""
        states = self.seller.export_channels()
        blob = json.dumps(states[self.offer.channel]).encode()
        kwargs = {"scrypt_n": self.kdf_n} if self.kdf_n else {}
        save_keys(self._channels_path(), self.agent.identity.password, {STREAM: blob}, **kwargs)

    def advertise(self) -> list[str]:
        return self.seller.advertise()

    def publish_once(self) -> str | None:
        now = self.agent.clock()
        reading = {"t": now}
        for name in self.agent.profile.names():
            try:
                reading[name] = self.agent.data.latest(name, now)["value"]
            except SourceError as exc:  # nothing received yet (MQTT) or the upstream is down
                log.warning("stream: %s", exc)
        if len(reading) == 1:
            return None
        return self.seller.publish(STREAM, reading)

    def poll_sales(self) -> list:
        sales = self.seller.poll()
        for s in sales:
            self.agent.state.save_stream_sale(AgentStreamSale(payment_id=s.payment_ref, buyer=s.payer, span=s.sold,
                                                              answered=s.answer_ref is not None,
                                                              at=self.agent.clock()))
        if sales:
            self.save()  # the spans just opened are part of the channel state
        return sales

    def withdraw_due(self, now: int | None = None) -> int:
        """Pull the device's ledger credit (Ethereum's pay-by-credit) on the withdraw schedule; the amount.

        Ledgers that pay into the account directly (the tangle) have nothing to withdraw."""
        withdraw = getattr(self.ledger, "withdraw", None)
        if withdraw is None:
            return 0
        now = self.agent.clock() if now is None else now
        name = f"last_stream_withdraw_{self.ledger.kind}"
        if now - self.agent.state.cursor(name) < self.agent.config.withdraw_every_seconds:
            return 0
        with getattr(self.ledger, "lock", None) or contextlib.nullcontext():
            amount = self.ledger.board.credit_of(self.address)
            ref = withdraw() if amount > 0 else None
        if ref:
            log.info("stream proceeds on %s: withdrew %d (tx %s)", self.ledger.kind, amount, ref)
        self.agent.state.set_cursor(name, now)
        return amount

    def run(self, stop: threading.Event) -> None:
        """Publish every ``publish_every_seconds`` and answer payments in between, until ``stop``.

        With ``require_consent`` nothing is advertised, published or sold while the owner has not
        enabled the device. When consent is withdrawn the offers are withdrawn on the ledger, and
        payments still arriving (made against an old offer) are refunded in full: the buyer's
        money is returned, never kept for a sale the owner no longer allows."""
        every = self.agent.config.publish_every_seconds
        advertised = False
        published = 0
        while not stop.is_set():
            if not self._consented():
                try:
                    if advertised:
                        self.seller.close()
                        advertised = False  # advertise again after a re-enable
                    self.seller.closed = True
                    self.poll_sales()  # refunds only
                except ExchangeError as exc:
                    log.warning("stream sales while disabled: %s", exc)
                except Exception:  # noqa: BLE001 - one bad pass must not end the thread
                    log.exception("stream sales while disabled: unexpected error; retrying")
                stop.wait(0.2)
                continue
            try:
                if not advertised:
                    self.seller.closed = False
                    self.advertise()
                    advertised = True
                self.publish_once()
                published += 1
                self.poll_sales()
                self.withdraw_due()
                if published % 20 == 0:
                    self.save()
            except ExchangeError as exc:
                log.warning("stream publishing: %s", exc)
            except Exception:  # noqa: BLE001 - one bad pass (a payment, a reading) must not end the thread
                log.exception("stream publishing: unexpected error; retrying on the next round")
            # Answer payments promptly between publications.
            waited = 0.0
            while waited < every and not stop.is_set() and self._consented():
                try:
                    self.poll_sales()
                except ExchangeError as exc:
                    log.warning("stream sales poll: %s", exc)
                except Exception:  # noqa: BLE001 - see above
                    log.exception("stream sales poll: unexpected error; retrying")
                stop.wait(0.2)
                waited += 0.2
        self.save()

    def _consented(self) -> bool:
        return not self.require_consent or self.agent.enabled()
