"""Typed client for DeviceRegistry, OEM attestation signing and fast event reading.

``LogReader`` decodes raw logs by topic with eth-abi (no per-log web3 machinery), so the
catalog indexer can read thousands of events per second; it also takes extra event ABIs
(e.g. the AuctionHouse's ``DeviceRated``) so one pass reads several contracts.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from eth_abi import decode
from eth_utils import keccak, to_checksum_address

from exchange.chain.artifacts import load_artifact
from exchange.chain.connect import Chain
from exchange.chain.deploy import mechanism_names
from exchange.chain.devicekey import DeviceKey, device_id_of
from exchange.chain.devicekey import sign_attestation as _sign_attestation
from exchange.errors import ChainConnectionError, ExchangeError


@functools.cache
def event_abi(contract: str, name: str) -> dict:
    """The ABI of event ``name`` as the compiled artifact of ``contract`` declares it (never a copy)."""
    found = [x for x in load_artifact(contract)["abi"] if x.get("type") == "event" and x.get("name") == name]
    if len(found) != 1:
        raise ChainConnectionError(f"the {contract} artifact declares {len(found)} events named {name}")
    return found[0]

# Codes a device may choose: the index of a mechanism in the deploy plan (the house's registration order).
MECHANISMS = dict(enumerate(mechanism_names()))


class RegistryInputError(ExchangeError, ValueError):
    """An argument to the registry client is malformed (caught before any transaction)."""


@dataclass(frozen=True)
class CheckInItem:
    """One device to check in; the device key signs the proof of control for the sending owner."""

    device_key: DeviceKey
    td: bytes  # canonical TD bytes (exchange.wot.canonical_td)
    x25519_key: bytes
    signing_key: bytes  # the Ed25519 public key that signs the device's access tokens
    tangle_address: str
    reserve_price: int
    mechanism: int = 0

    @property
    def device_id(self) -> bytes:
        return self.device_key.device_id

    def as_tuple(self, chain_id: int, registry: str, owner: str) -> tuple:
        if not isinstance(self.device_key, DeviceKey):
            raise RegistryInputError(f"device_key must be a DeviceKey, got {type(self.device_key).__name__}")
        x, s = _b32(self.x25519_key, "x25519_key"), _b32(self.signing_key, "signing_key")
        proof = self.device_key.sign_check_in(chain_id, registry, owner, x, s)
        return (self.device_id, keccak(self.td), self.td, x, s, self.tangle_address,
                _uint(self.reserve_price, 80, "reserve_price"), _mechanism_code(self.mechanism), proof)


@dataclass(frozen=True)
class DeviceState:
    owner: str
    reserve_price: int
    mechanism: int
    active: bool
    attested: bool
    signing_key: bytes  # Ed25519 token-signing key (the X25519 key is in the check-in event)


@dataclass(frozen=True)
class ChainEvent:
    name: str
    address: str
    block_number: int
    log_index: int
    tx_hash: bytes
    args: dict


@functools.lru_cache(maxsize=65536)
def checksum(address: str) -> str:
    """EIP-55 form of an address (cached: owners and contracts repeat across many events)."""
    return to_checksum_address(address)


def _b32(v: bytes, what: str) -> bytes:
    if isinstance(v, str):
        v = bytes.fromhex(v.removeprefix("0x"))
    if not isinstance(v, bytes | bytearray) or len(v) != 32:
        raise RegistryInputError(f"{what} must be 32 bytes, got {v!r:.80}")
    return bytes(v)


def _uint(v: int, bits: int, what: str) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 2**bits:
        raise RegistryInputError(f"{what} must be an integer in [0, 2**{bits}), got {v!r}")
    return v


def _mechanism_code(v: int) -> int:
    """A device's mechanism code: the index of a mechanism in the deploy plan."""
    _uint(v, 8, "mechanism")
    if v not in MECHANISMS:
        known = ", ".join(f"{c} {n}" for c, n in MECHANISMS.items())
        raise RegistryInputError(f"mechanism code {v} names no mechanism of the deploy plan ({known})")
    return v


def _type_str(inp: dict) -> str:
    t = inp["type"]
    if t.startswith("tuple"):
        return "(" + ",".join(_type_str(c) for c in inp["components"]) + ")" + t[len("tuple"):]
    return t


def _int(v) -> int:
    return int(v, 16) if isinstance(v, str) else int(v)


def _bytes(v) -> bytes:
    return bytes.fromhex(v[2:]) if isinstance(v, str) else bytes(v)


def _topic_value(typ: str, topic: bytes):
    """An indexed argument from its 32-byte topic (static types by hand: eth-abi is slow per call)."""
    if typ == "address":
        return "0x" + topic[12:].hex()
    if typ.startswith("uint"):
        return int.from_bytes(topic, "big")
    if typ == "bool":
        return topic[-1] == 1
    if typ in ("bytes", "string") or typ == "bytes32":
        return topic  # dynamic types are indexed as their hash
    return decode([typ], topic)[0]


_FAST = {"address", "bool", "bytes", "string"} | {f"uint{n}" for n in range(8, 257, 8)} | {
    f"bytes{n}" for n in range(1, 33)}


def fast_decode(types: list[str], data: bytes) -> tuple | None:
    """ABI-decode a flat tuple of elementary types and bytes/string (the registry's events) without
    eth-abi's per-call machinery; None for anything else (the caller falls back to eth-abi)."""
    if any(t not in _FAST for t in types) or len(data) < 32 * len(types):
        return None
    out = []
    for i, t in enumerate(types):
        word = data[32 * i:32 * i + 32]
        if t in ("bytes", "string"):
            off = int.from_bytes(word, "big")
            n = int.from_bytes(data[off:off + 32], "big")
            if off + 32 + n > len(data):
                return None
            raw = data[off + 32:off + 32 + n]
            out.append(raw.decode("utf-8", "replace") if t == "string" else raw)
        elif t == "address":
            out.append("0x" + word[12:].hex())
        elif t == "bool":
            out.append(word[-1] == 1)
        elif t.startswith("uint"):
            out.append(int.from_bytes(word, "big"))
        else:  # bytesN: left-aligned
            out.append(word[:int(t[5:])])
    return tuple(out)


class EventDecoder:
    """topic0 -> decoder over a set of event ABIs."""

    def __init__(self, abi: Iterable[dict]):
        self.events: dict[bytes, tuple[str, list[dict], list[dict]]] = {}
        for item in abi:
            if item.get("type") != "event":
                continue
            sig = f"{item['name']}({','.join(_type_str(i) for i in item['inputs'])})"
            indexed = [i for i in item["inputs"] if i.get("indexed")]
            data = [i for i in item["inputs"] if not i.get("indexed")]
            self.events[keccak(text=sig)] = (item["name"], indexed, data)

    @property
    def topics(self) -> list[str]:
        return ["0x" + t.hex() for t in self.events]

    def decode(self, log) -> ChainEvent | None:
        topics = [_bytes(t) for t in log["topics"]]
        if not topics or topics[0] not in self.events:
            return None
        name, indexed, data = self.events[topics[0]]
        args: dict = {}
        for inp, topic in zip(indexed, topics[1:], strict=False):
            args[inp["name"]] = _topic_value(inp["type"], topic)
        raw = log["data"]
        raw = bytes.fromhex(raw[2:]) if isinstance(raw, str) else bytes(raw)
        types = [_type_str(i) for i in data]
        values = fast_decode(types, raw)
        for inp, val in zip(data, values if values is not None else decode(types, raw), strict=True):
            args[inp["name"]] = val
        for k, v in args.items():
            if isinstance(v, str) and len(v) == 42 and v.startswith("0x"):
                args[k] = checksum(v)
        return ChainEvent(name, checksum(log["address"]), _int(log["blockNumber"]), _int(log["logIndex"]),
                          _bytes(log["transactionHash"]), args)


class LogReader:
    """Read and decode the logs of several contracts over a block range in one get_logs call."""

    def __init__(self, chain: Chain, contracts: dict[str, Iterable[dict]]):
        self.chain = chain
        self.decoders = {to_checksum_address(a): EventDecoder(abi) for a, abi in contracts.items()}

    def head(self) -> int:
        return self.chain.w3.eth.block_number

    def block_hash(self, number: int) -> str | None:
        """The 0x hash of block ``number`` on the chain now (None past the head)."""
        if number > self.head():
            return None
        return "0x" + bytes(self.chain.w3.eth.get_block(number)["hash"]).hex()

    def read(self, from_block: int, to_block: int) -> list[ChainEvent]:
        if to_block < from_block:
            return []
        params = {"fromBlock": hex(from_block), "toBlock": hex(to_block), "address": list(self.decoders)}
        if self.chain.kind == "embedded":
            logs = self.chain.w3.eth.get_logs({**params, "fromBlock": from_block, "toBlock": to_block})
        else:
            # Raw JSON-RPC: web3's per-field result formatters cost more than decoding the logs.
            resp = self.chain.w3.provider.make_request("eth_getLogs", [params])
            if "error" in resp:
                raise ChainConnectionError(f"eth_getLogs {from_block}..{to_block} failed: {resp['error']}")
            logs = resp["result"]
        out = []
        for log in logs:
            ev = self.decoders[checksum(log["address"])].decode(log)
            if ev is not None:
                out.append(ev)
        out.sort(key=lambda e: (e.block_number, e.log_index))
        return out


class RegistryClient:
    """DeviceRegistry calls with plain Python types; reverts raise ContractRevert."""

    def __init__(self, chain: Chain, address: str):
        self.chain = chain
        self.address = to_checksum_address(address)
        self.abi = load_artifact("DeviceRegistry")["abi"]
        self.contract = chain.w3.eth.contract(address=self.address, abi=self.abi)

    @classmethod
    def deploy(cls, chain: Chain, sender: str | None = None) -> RegistryClient:
        from exchange.chain.deploy import deploy_contract

        return cls(chain, deploy_contract(chain, "DeviceRegistry", [], sender=sender)["contractAddress"])

    @classmethod
    def from_manifest(cls, chain: Chain, manifest: dict) -> RegistryClient:
        from exchange.chain.deploy import contract

        return cls(chain, contract(chain, manifest, "DeviceRegistry").address)

    # ------------------------------------------------------------ owners
    def check_in(self, device_key: DeviceKey, td: bytes, x25519_key: bytes, signing_key: bytes, tangle_address: str,
                 reserve_price: int, mechanism: int = 0, sender: str | None = None):
        """Check the device of ``device_key`` in for ``sender`` (the key signs the proof of control)."""
        item = CheckInItem(device_key, td, x25519_key, signing_key, tangle_address, reserve_price, mechanism)
        return self.check_in_tuple(item.as_tuple(self.chain.chain_id, self.address, self._owner(sender)), sender)

    def check_in_cost(self, device_key: DeviceKey, td: bytes, x25519_key: bytes, signing_key: bytes,
                      tangle_address: str, reserve_price: int, mechanism: int = 0,
                      sender: str | None = None) -> tuple[int, int]:
        """(gas, wei) a ``check_in`` with these arguments is expected to cost ``sender``."""
        item = CheckInItem(device_key, td, x25519_key, signing_key, tangle_address, reserve_price, mechanism)
        fn = self.contract.functions.checkIn(item.as_tuple(self.chain.chain_id, self.address, self._owner(sender)))
        return self.chain.estimate_cost(fn, sender=sender)

    def check_in_tuple(self, item: tuple, sender: str | None = None):
        """Send a prepared ``CheckIn`` tuple as is (a copied or hand-made check-in, e.g. in tests)."""
        return self.chain.transact(self.contract.functions.checkIn(item), sender=sender)

    def check_in_batch(self, items: Sequence[CheckInItem], sender: str | None = None):
        owner = self._owner(sender)
        return self.chain.transact(self.contract.functions.checkInBatch(
            [i.as_tuple(self.chain.chain_id, self.address, owner) for i in items]), sender=sender)

    def _owner(self, sender: str | None) -> str:
        return to_checksum_address(sender or self.chain.deployer)

    def update(self, device_id: bytes, td: bytes, tangle_address: str, reserve_price: int, mechanism: int = 0,
               sender: str | None = None):
        fn = self.contract.functions.update(_b32(device_id, "device_id"), keccak(td), td, tangle_address,
                                            _uint(reserve_price, 80, "reserve_price"), _mechanism_code(mechanism))
        return self.chain.transact(fn, sender=sender)

    def check_out(self, device_id: bytes, sender: str | None = None):
        return self.chain.transact(self.contract.functions.checkOut(_b32(device_id, "device_id")), sender=sender)

    def transfer(self, device_id: bytes, to: str, sender: str | None = None):
        fn = self.contract.functions.transferDevice(_b32(device_id, "device_id"), to_checksum_address(to))
        return self.chain.transact(fn, sender=sender)

    def attest(self, device_id: bytes, signature: bytes, sender: str | None = None):
        return self.chain.transact(self.contract.functions.attest(_b32(device_id, "device_id"), bytes(signature)),
                                   sender=sender)

    # -------------------------------------------------------- governance
    def set_house(self, house: str, sender: str | None = None):
        return self.chain.transact(self.contract.functions.setHouse(to_checksum_address(house)), sender=sender)

    def set_oem(self, oem: str, allowed: bool = True, sender: str | None = None):
        return self.chain.transact(self.contract.functions.setOem(to_checksum_address(oem), allowed), sender=sender)

    def transfer_governance(self, to: str, sender: str | None = None):
        return self.chain.transact(self.contract.functions.transferGovernance(to_checksum_address(to)), sender=sender)

    # ------------------------------------------------------------- views
    def owner_of(self, device_id: bytes) -> str:
        return self.chain.call(self.contract.functions.ownerOf(_b32(device_id, "device_id")))

    def is_active(self, device_id: bytes) -> bool:
        return self.chain.call(self.contract.functions.isActive(_b32(device_id, "device_id")))

    def is_attested(self, device_id: bytes) -> bool:
        return self.chain.call(self.contract.functions.isAttested(_b32(device_id, "device_id")))

    def signing_key_of(self, device_id: bytes) -> bytes:
        """The device's Ed25519 token-signing key as the registry holds it (zero if unknown)."""
        return bytes(self.chain.call(self.contract.functions.signingKeyOf(_b32(device_id, "device_id"))))

    def house(self) -> str:
        return self.chain.call(self.contract.functions.house())

    def is_oem(self, oem: str) -> bool:
        return self.chain.call(self.contract.functions.isOem(to_checksum_address(oem)))

    def governance(self) -> str:
        return self.chain.call(self.contract.functions.governance())

    def device(self, device_id: bytes) -> DeviceState:
        return DeviceState(*self.chain.call(self.contract.functions.device(_b32(device_id, "device_id"))))

    def attestation_digest(self, device_id: bytes, owner: str, signing_key: bytes) -> bytes:
        return self.chain.call(self.contract.functions.attestationDigest(
            _b32(device_id, "device_id"), to_checksum_address(owner), _b32(signing_key, "signing_key")))

    def sign_attestation(self, oem_private_key: bytes, device_id: bytes, owner: str, signing_key: bytes) -> bytes:
        """The OEM's 65-byte signature for ``attest`` of ``owner``'s record (same digest as the contract)."""
        return _sign_attestation(oem_private_key, self.chain.chain_id, self.address, device_id, owner, signing_key)

    def sign_attestation_for_record(self, oem_private_key: bytes, device_id: bytes) -> bytes:
        """The OEM's signature for the record as it stands on chain (its current owner and signing key)."""
        d = self.device(device_id)
        if int(d.owner, 16) == 0:
            raise RegistryInputError(f"device {bytes(device_id).hex()} is not checked in")
        return self.sign_attestation(oem_private_key, device_id, d.owner, d.signing_key)

    # ------------------------------------------------------------ events
    def reader(self, extra: dict[str, Iterable[dict]] | None = None) -> LogReader:
        return LogReader(self.chain, {self.address: self.abi, **(extra or {})})

    def events(self, from_block: int = 0, to_block: int | None = None) -> list[ChainEvent]:
        r = self.reader()
        return r.read(from_block, r.head() if to_block is None else to_block)

    def current_td_hash(self, device_id: bytes) -> bytes | None:
        """The TD hash of the latest check-in/update (kept in the log, not in storage, to save gas)."""
        did = _b32(device_id, "device_id")
        last = None
        for ev in self.events():
            if ev.name in ("DeviceCheckedIn", "DeviceUpdated") and ev.args["deviceId"] == did:
                last = ev.args["tdHash"]
        return last

    def tangle_address_of(self, device_id: bytes) -> str | None:
        """The tangle address of the device's latest check-in/update (the log holds it, storage does
        not), read with a topic filter on the device id: one get_logs however long the chain is."""
        did = _b32(device_id, "device_id")
        decoder = EventDecoder(self.abi)
        wanted = [t for t, (name, _, _) in decoder.events.items() if name in ("DeviceCheckedIn", "DeviceUpdated")]
        logs = self.chain.w3.eth.get_logs({"fromBlock": 0, "toBlock": "latest", "address": self.address,
                                          "topics": [["0x" + t.hex() for t in wanted], "0x" + did.hex()]})
        events = sorted((e for e in map(decoder.decode, logs) if e is not None),
                        key=lambda e: (e.block_number, e.log_index))
        return events[-1].args["tangleAddress"] if events else None


def sign_attestation(oem_private_key: bytes, chain_id: int, registry: str, device_id: bytes, owner: str,
                     signing_key: bytes) -> bytes:
    """An OEM's attestation of ``owner``'s record (see exchange.chain.devicekey)."""
    return _sign_attestation(oem_private_key, chain_id, registry, device_id, owner, signing_key)


__all__ = ["CheckInItem", "DeviceKey", "DeviceState", "RegistryClient", "RegistryInputError", "device_id_of",
           "sign_attestation"]
