"""The device agent: identity + config + state, the TD, consent, and the registry flows.

Consent is explicit and local: ``enable`` records the owner's opt-in in the agent's
database and only then checks the device in; every chain-writing path checks it first
(``NotEnabledError``), so nothing reaches the registry before it.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from pathlib import Path

from device_agent.config import MECHANISMS, AgentConfig, load_config, require_publishable_url, save_config
from device_agent.credentials import load_credentials
from device_agent.errors import AgentConfigError, NoChainError, NotEnabledError, NotRecordOwnerError
from device_agent.identity import Identity, load_identity
from device_agent.profiles import restrict
from device_agent.recorder import RECORDER_FILE, RecordedData, Recorder
from device_agent.sources import make_source
from device_agent.state import AgentState
from device_agent.td import build_td, td_bytes_and_hash
from exchange.chain.connect import Chain
from exchange.chain.registry import RegistryClient
from exchange.errors import ExchangeError

log = logging.getLogger(__name__)
CHAIN_TIME_TTL_S = 1.0


class DeviceAgent:
    """One device: what it is, what it sells, and its standing in the registry."""

    def __init__(self, data_dir: Path, password: str, *, identity: Identity | None = None,
                 config: AgentConfig | None = None):
        self.data_dir = Path(data_dir)
        self.identity = identity or load_identity(self.data_dir, password)
        self.config = (config or load_config(self.data_dir)).validate()
        self.state = AgentState(self.data_dir)
        self.base_url = self._configured_base()
        self.chain: Chain | None = None
        self.registry: RegistryClient | None = None
        self._chain_time = (0.0, 0)
        self._chain_lead = 0.0  # seconds the chain's clock has been seen ahead of wall time
        self._tangle_address = ""
        self._td: tuple[tuple, dict] | None = None
        self._lock = threading.RLock()
        self.recorder = Recorder(self.data_dir / RECORDER_FILE, retention_days=self.config.retention_days,
                                 max_rows=self.config.recorder_max_rows)
        self._plug_source()

    def _plug_source(self) -> None:
        """The source plug-in point: the configured source, what of it is sold, and the recorded
        data the server and the streams read (``self.data``)."""
        creds = load_credentials(self.data_dir, self.identity.password)
        first = {}

        def last_recorded():
            r = self.recorder.latest(first["name"]) if first else None
            return r.t if r else None

        self.source = make_source(self.config, self.data_dir, creds, self.clock, last_recorded)
        self.profile = restrict(self.source.offer(), self.config.sell, self.config.sell_events)
        first["name"] = self.profile.properties[0].name
        self.simulator = getattr(self.source, "simulator", None)  # the simulator source's model (tests, demos)
        self.data = RecordedData(self.source, self.recorder, self.profile.names(), [e.name for e in self.profile.events])

    # ------------------------------------------------------------- basics
    @property
    def device_id(self) -> bytes:
        return self.identity.device_id

    @property
    def address(self) -> str:
        return self.identity.address

    @property
    def mechanism_code(self) -> int:
        return MECHANISMS.index(self.config.mechanism)

    def td(self) -> dict:
        """The TD (a copy). Built and schema-validated once per config, URL and profile: the
        well-known route is public, and validation costs milliseconds per request."""
        key = (repr(self.config), self.base_url, id(self.profile))
        if self._td is None or self._td[0] != key:
            self._td = (key, build_td(self.config, self.identity.device_id_hex, self.base_url, self.profile))
        return copy.deepcopy(self._td[1])

    def _configured_base(self) -> str:
        if self.config.relay_urls:
            from device_agent.td import relay_base

            return relay_base(self.config.relay_urls[0], self.identity.device_id_hex)
        return self.config.public_url or f"http://{self.config.http_host}:{self.config.http_port}"

    def set_base_url(self, url: str) -> None:
        """Where the HTTP server listens (known once it is bound); the TD forms point there unless
        a public URL or relays are configured."""
        if not self.config.public_url and not self.config.relay_urls:
            self.base_url = url.rstrip("/")

    def tangle_address(self) -> str:
        """The device's tangle address for micro-payments, announced at check-in."""
        if not self._tangle_address:
            from device_agent.streaming import tangle_wallet

            self._tangle_address = tangle_wallet(self.identity).address
        return self._tangle_address

    def clock(self, fresh: bool = False) -> int:
        """Now, for access periods and readings: wall time plus how far the chain ran ahead of it.

        Periods are set in chain time; on a real chain the two agree, and a local chain moved
        forward (tests, demos) must expire keys too. The lead is the largest seen of (block time
        - wall time when it was read), so the clock is never behind the chain yet keeps ticking
        with wall time while an idle chain stands on a moved block (a frozen clock would serve
        one reading over and over). The HTTP server may use a chain time up to a second old;
        ``fresh`` (the selling loop) asks now.
        """
        now = time.time()
        if self.chain is not None:
            fetched = self._chain_time[0]
            if fresh or time.monotonic() - fetched > CHAIN_TIME_TTL_S:
                try:
                    ts = self.chain_time()
                    now = time.time()  # after the call: a wait for the chain lock must not count as lead
                    self._chain_time = (time.monotonic(), ts)
                    self._chain_lead = max(self._chain_lead, ts - now)
                except Exception:  # noqa: BLE001 - an unreachable node must not stop serving
                    log.warning("chain time unavailable; using wall time")
        return int(now + self._chain_lead)

    def chain_time(self) -> int:
        """The latest block's timestamp: what a contract compares its deadlines with."""
        with self._lock:
            return self._require_chain_connection().now()

    def _require_chain_connection(self) -> Chain:
        if self.chain is None:
            raise NoChainError("no chain attached: connect the agent to a chain first (--rpc)")
        return self.chain

    def save_config(self, config: AgentConfig) -> None:
        """Change the profile/prices; the registry is updated on the next sync when enabled."""
        save_config(self.data_dir, config)
        self.config = config.validate()
        if config.relay_urls or config.public_url:
            self.base_url = self._configured_base()
        self.source.stop()
        self._plug_source()

    # -------------------------------------------------------------- chain
    def attach_chain(self, chain: Chain, manifest: dict) -> None:
        self.chain = chain
        # One lock per connection: agents sharing an in-process eth-tester (not thread-safe)
        # take turns; agents with their own RPC connections never wait for each other.
        self._lock = chain.lock
        self.registry = RegistryClient.from_manifest(chain, manifest)

    def _require_chain(self) -> RegistryClient:
        if self.registry is None:
            raise NoChainError("no chain attached: connect the agent to a chain first (--rpc)")
        return self.registry

    def enabled(self) -> bool:
        return self.state.enabled()

    def foreign_owner(self, owner: str | None = None) -> str | None:
        """One line saying why this agent must not act for the registry record, or None when the
        record is unlisted or is this agent's own. Checked before every attestation, sale and delivery."""
        if owner is None:
            owner = self._require_chain().owner_of(self.device_id)
        if int(owner, 16) == 0 or owner.lower() == self.address.lower():
            return None
        return (f"device {self.identity.device_id_hex[:12]} is registered to {owner}, not to this agent's account "
                f"{self.address}: refusing to attest, sell or deliver for it")

    def enable(self) -> dict:
        """The owner's opt-in: record consent, then check the device in (or update it).

        Funds are checked first; a first opt-in whose check-in fails leaves consent unrecorded,
        so a failed ``enable`` changes nothing."""
        reg = self._require_chain()
        was_enabled = self.state.enabled()
        if not reg.is_active(self.device_id):
            self.require_checkin_funds()
        self.state.set_enabled(True)
        try:
            return self.sync_registration()
        except BaseException:
            if not was_enabled:
                self.state.set_enabled(False)
            raise

    def checkin_cost(self) -> tuple[int, int]:
        """(gas, wei) the check-in of the current TD is expected to cost this agent's account."""
        td_bytes, _ = td_bytes_and_hash(self.td())
        return self._require_chain().check_in_cost(
            self.identity.device_key, td_bytes, self.identity.x25519_public, self.identity.ed25519_public,
            tangle_address=self.tangle_address(), reserve_price=self.config.reserve_price_wei,
            mechanism=self.mechanism_code, sender=self.address)

    def require_checkin_funds(self) -> None:
        """Refuse, in one line saying how much, when the account cannot pay for its check-in."""
        from exchange.chain.connect import format_eth
        from exchange.errors import InsufficientFundsError

        gas, needed = self.checkin_cost()
        have = self.chain.balance(self.address)
        if have < needed:
            raise InsufficientFundsError(
                f"the device account {self.address} holds {format_eth(have)}; checking in needs about "
                f"{format_eth(needed)} ({gas:,} gas): fund it with ETH (on a local chain: "
                f"`thingbid fund {self.address}`), then run enable again")

    def record_consent(self) -> None:
        """The owner's opt-in without a chain at hand (tangle-only selling); check-in follows
        with the next ``enable``/``sync_registration`` once a chain is attached."""
        self.state.set_enabled(True)

    def sync_registration(self) -> dict:
        """Bring the registry in line with the current TD/price/mechanism. Only when enabled."""
        with self._lock:
            if not self.state.enabled():
                raise NotEnabledError("the owner has not enabled this device (`device-agent enable`); "
                                      "nothing is checked in")
            reg = self._require_chain()
            require_publishable_url(self.base_url)
            td_bytes, td_hash = td_bytes_and_hash(self.td())
            chain_dev = reg.device(self.device_id)
            problem = self.foreign_owner(chain_dev.owner)
            if problem:
                log.error(problem)
                self.state.save_registration(device_id=self.identity.device_id_hex, checked_in=False)
                raise NotRecordOwnerError(problem)
            local = self.state.registration()
            common = dict(tangle_address=self.tangle_address(), reserve_price=self.config.reserve_price_wei,
                          mechanism=self.mechanism_code, sender=self.address)
            if not chain_dev.active:
                # The device key signs the proof of control for this agent's account.
                receipt = reg.check_in(self.identity.device_key, td_bytes, self.identity.x25519_public,
                                       self.identity.ed25519_public, **common)
                action = "checked_in"
            else:
                known = local.td_hash if local and local.checked_in else (reg.current_td_hash(self.device_id) or b"").hex()
                unchanged = (known == td_hash.hex() and chain_dev.reserve_price == self.config.reserve_price_wei
                             and chain_dev.mechanism == self.mechanism_code)
                if unchanged:
                    self.state.save_registration(device_id=self.identity.device_id_hex, checked_in=True,
                                                 td_hash=td_hash.hex())
                    return {"action": "unchanged", "td_hash": td_hash.hex(), **self._attest_if_configured()}
                receipt = reg.update(self.device_id, td_bytes, **common)
                action = "updated"
            tx = receipt["transactionHash"].hex()
            self.state.save_registration(device_id=self.identity.device_id_hex, checked_in=True,
                                         td_hash=td_hash.hex(), tx_hash=tx)
            log.info("device %s %s (tx %s)", self.identity.device_id_hex[:12], action, tx)
            return {"action": action, "td_hash": td_hash.hex(), "tx": tx, "td_bytes": len(td_bytes),
                    **self._attest_if_configured()}

    def _attest_if_configured(self) -> dict:
        """Attest with the OEM key when one is configured and the chain does not show it yet.

        Runs on every sync, so a failed attempt (OEM not yet allow-listed, wrong password) is
        retried on the next start; it never undoes the check-in it follows."""
        if not self.config.oem_key_file:
            return {}
        import os

        from exchange.chain.connect import load_keystore

        problem = self.foreign_owner()
        if problem:
            raise NotRecordOwnerError(problem)
        if self.registry.is_attested(self.device_id):
            return {"attestation": "attested"}
        try:
            # The OEM's keystore has its own password ($THINGBID_OEM_PASSWORD), else the device's.
            # The attestation names this agent's account: it can only attest its own record.
            oem = load_keystore(self.config.oem_key_file,
                                os.environ.get("THINGBID_OEM_PASSWORD") or self.identity.password)
            sig = self.registry.sign_attestation(bytes(oem.key), self.device_id, self.address,
                                                 self.identity.ed25519_public)
            self.registry.attest(self.device_id, sig, sender=self.address)
        except ExchangeError as exc:
            log.warning("device %s: OEM attestation failed, retried on the next sync: %s",
                        self.identity.device_id_hex[:12], exc)
            return {"attestation": f"failed: {exc}"}
        self.state.save_registration(attested=True)
        return {"attestation": "attested"}

    def disable(self) -> dict:
        """Withdraw consent and check the device out (if it is checked in).

        Consent is withdrawn first, and also without a chain (a tangle-only seller): the stream
        publisher then withdraws its offers and refunds payments."""
        with self._lock:
            self.state.set_enabled(False)
            if self.registry is None:
                return {"action": "consent_withdrawn", "note": "no chain attached: nothing to check out"}
            return self.complete_opt_out()

    def complete_opt_out(self) -> dict:
        """Without consent the device must not be listed: check it out if the registry still
        shows it (a ``disable`` whose check-out failed, say for gas, is finished on the next start)."""
        with self._lock:
            if self.state.enabled():
                raise AgentConfigError("the owner has enabled this device: nothing to opt out of")
            reg = self._require_chain()
            problem = self.foreign_owner()
            if problem:  # not ours to check out; consent is withdrawn locally all the same
                self.state.save_registration(device_id=self.identity.device_id_hex, checked_in=False)
                return {"action": "not_ours", "note": problem}
            if not reg.is_active(self.device_id):
                self.state.save_registration(device_id=self.identity.device_id_hex, checked_in=False)
                return {"action": "not_checked_in"}
            receipt = reg.check_out(self.device_id, sender=self.address)
            self.state.save_registration(device_id=self.identity.device_id_hex, checked_in=False)
            return {"action": "checked_out", "tx": receipt["transactionHash"].hex()}

    def status(self) -> dict:
        reg = self.state.registration()
        out = {"device_id": self.identity.device_id_hex, "address": self.address, "appliance": self.config.appliance,
               "source": self.source.KIND, "enabled": self.state.enabled(), "checked_in": bool(reg and reg.checked_in),
               "td_hash": reg.td_hash if reg else "", "base_url": self.base_url,
               "auctions": {}, "tokens_issued": len(self.state.tokens())}
        for a in self.state.auctions():
            out["auctions"][a.status] = out["auctions"].get(a.status, 0) + 1
        return out

    def close(self) -> None:
        self.source.stop()
        self.recorder.close()
        self.state.close()
