"""The Thing Description model the catalog reads, the canonical form and its hash."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from eth_utils import keccak

from exchange.wot.validate import MAX_TD_BYTES, TDValidationError, canonical_td_unchecked, validate_td


def canonical_td(td: dict) -> bytes:
    """Validated canonical bytes: UTF-8 JSON, keys sorted, no insignificant whitespace."""
    validate_td(td)
    return canonical_td_unchecked(td)


def td_hash(td: dict) -> bytes:
    """keccak256 of the canonical bytes (what DeviceRegistry.checkIn is given)."""
    return keccak(canonical_td(td))


@dataclass(frozen=True)
class Affordance:
    kind: str  # "property", "action" or "event"
    name: str
    title: str | None = None
    data_type: str | None = None
    unit: str | None = None


@dataclass(frozen=True)
class ThingDescription:
    """The parts of a valid TD the exchange uses; ``raw`` keeps the whole document."""

    raw: dict
    title: str
    description: str | None
    types: tuple[str, ...]
    affordances: tuple[Affordance, ...]
    security_schemes: tuple[str, ...]
    geohash: str | None = None
    tags: tuple[str, ...] = field(default=())

    @classmethod
    def from_dict(cls, td: dict, canonical_size: int | None = None) -> ThingDescription:
        validate_td(td, canonical_size)
        types = td.get("@type", [])
        affs = []
        for key, kind in (("properties", "property"), ("actions", "action"), ("events", "event")):
            for name, a in td.get(key, {}).items():
                schema = a if kind == "property" else a.get("output" if kind == "action" else "data") or {}
                affs.append(Affordance(kind, name, a.get("title"), schema.get("type"), schema.get("unit")))
        tags = td.get("tags", [])
        return cls(raw=td, title=td["title"], description=td.get("description"),
                   types=tuple([types] if isinstance(types, str) else types),
                   affordances=tuple(sorted(affs, key=lambda a: (a.kind, a.name))),
                   security_schemes=tuple(sorted({d["scheme"] for d in td["securityDefinitions"].values()})),
                   geohash=td.get("geohash"), tags=tuple([tags] if isinstance(tags, str) else tags))

    @classmethod
    def from_bytes(cls, data: bytes) -> ThingDescription:
        """Parse TD bytes as read from a registry event."""
        try:
            td = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TDValidationError([f"$: not UTF-8 JSON ({exc})"]) from exc
        # The size limit applies to the canonical form; bytes that are not canonical are re-measured.
        return cls.from_dict(td, len(data) if len(data) <= MAX_TD_BYTES else None)

    def canonical(self) -> bytes:
        return canonical_td_unchecked(self.raw)

    def hash(self) -> bytes:
        return keccak(self.canonical())
