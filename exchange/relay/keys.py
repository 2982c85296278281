"""Where the relay learns a device's registered Ed25519 key: the registry record on chain.

``lookup`` is blocking (a chain call); the server runs it in a thread and keeps answers for a
short while (a device checked out stops being reachable within ``ttl_s``; a miss is kept for a second, so a device
just checked in is reachable at once; the cache is bounded, so a flood of random pseudonyms is too).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Protocol

from exchange.relay.protocol import RelayError

if TYPE_CHECKING:  # a relay serving from a keys table never imports the chain stack (web3): it starts faster
    from exchange.chain.connect import Chain
    from exchange.chain.registry import RegistryClient


class KeySource(Protocol):
    def lookup(self, device_id: bytes) -> bytes | None:
        """The device's registered Ed25519 key, or None when the registry lists no active device."""

    # Optional: ``changes() -> set[bytes]``, the device ids whose record changed since the last call
    # (the relay polls it and drops connections the registry no longer backs).


_CHANGES = ("DeviceCheckedIn", "DeviceUpdated", "DeviceCheckedOut", "DeviceTransferred")


class RegistryKeys:
    """Keys read from ``DeviceRegistry`` (only active records count)."""

    def __init__(self, registry: RegistryClient, ttl_s: float = 30.0, miss_ttl_s: float = 1.0,
                 max_entries: int = 100_000, chain_lock=None):
        self.registry, self.ttl_s, self.miss_ttl_s, self.max_entries = registry, ttl_s, miss_ttl_s, max_entries
        self._cache: OrderedDict[bytes, tuple[float, bytes | None]] = OrderedDict()
        self._lock = threading.Lock()
        # An in-process eth-tester is not thread-safe: share its users' lock (a JSON-RPC node needs none).
        self._chain_lock = chain_lock or contextlib.nullcontext()
        self._reader = None
        self._next_block: int | None = None

    @classmethod
    def from_manifest(cls, chain: Chain, manifest: dict, **kwargs) -> RegistryKeys:
        from exchange.chain.registry import RegistryClient

        kwargs.setdefault("chain_lock", chain.lock)
        return cls(RegistryClient.from_manifest(chain, manifest), **kwargs)

    def lookup(self, device_id: bytes) -> bytes | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(device_id)
            if hit and now - hit[0] < (self.ttl_s if hit[1] else self.miss_ttl_s):
                return hit[1]
        with self._chain_lock:
            state = self.registry.device(device_id)
        key = state.signing_key if state.active and state.signing_key != bytes(32) else None
        with self._lock:
            self._cache[device_id] = (now, key)
            self._cache.move_to_end(device_id)
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)
        return key

    def changes(self) -> set[bytes]:
        """Devices checked in, updated, checked out or transferred since the last call (the first call
        only marks where to start); their cached keys are forgotten, so the next lookup reads the chain."""
        with self._chain_lock:
            if self._reader is None:
                self._reader = self.registry.reader()
            head = self._reader.head()
            if self._next_block is None:
                self._next_block = head + 1
                return set()
            events = self._reader.read(self._next_block, head)
        self._next_block = max(self._next_block, head + 1)
        changed = {bytes(ev.args["deviceId"]) for ev in events if ev.name in _CHANGES}
        for device_id in changed:
            self.forget(device_id)
        return changed

    def forget(self, device_id: bytes) -> None:
        """Drop a cached answer (a hello that failed may be retried right after a check-in)."""
        with self._lock:
            self._cache.pop(device_id, None)


class TableKeys:
    """Keys from a fixed table ``{device id hex: Ed25519 public key hex}`` (``thingbid relay
    --keys-file``: benches, or a closed fleet whose operator vouches for the table instead of a chain)."""

    def __init__(self, table: dict[str, str]):
        try:
            self._keys = {bytes.fromhex(d): bytes.fromhex(k) for d, k in table.items()}
        except (ValueError, AttributeError, TypeError) as exc:
            raise RelayError(f"a keys table maps 64-hex device ids to 64-hex Ed25519 keys: {exc}") from None
        if any(len(d) != 32 or len(k) != 32 for d, k in self._keys.items()):
            raise RelayError("a keys table maps 32-byte device ids to 32-byte Ed25519 keys")

    def lookup(self, device_id: bytes) -> bytes | None:
        return self._keys.get(device_id)
