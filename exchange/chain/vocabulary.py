"""The auction house's vocabulary, loaded from the compiled artifacts (never written out by hand).

contracts/IAuctionHouse.sol declares the enums ``State``, ``SkipReason`` and ``RankResult``, and
every event and error of the house; the build copies the enums' member names from the compiler's
AST into the artifacts (the ABI alone says only ``uint8``). Here they become Python enums whose
values are the members' snake_case names (``State.AWAITING_KEY == "awaiting_key"``) and whose
``code`` is the number on chain; the house's event ABIs and error names come from the same
artifact. A test (tests/auction/test_vocabulary.py) fails if a hand-written mirror appears.
"""

from __future__ import annotations

import enum
import functools
import re

from exchange.chain.artifacts import load_artifact
from exchange.errors import ArtifactError

SOURCE = "contracts/IAuctionHouse.sol"


def snake(name: str) -> str:
    """``AwaitingKey`` -> ``awaiting_key`` (the Python spelling of a Solidity member)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class ChainEnum(enum.StrEnum):
    """A Solidity enum: the value is the snake_case member name, ``code`` its number on chain."""

    @property
    def code(self) -> int:
        return _codes(type(self))[self]

    @classmethod
    def of(cls, code: int) -> ChainEnum:
        """The member whose on-chain number is ``code`` (ValueError for a number the enum lacks)."""
        members = list(cls)
        if not isinstance(code, int) or isinstance(code, bool) or not 0 <= code < len(members):
            raise ValueError(f"{code!r} is not a {cls.__name__} code (0..{len(members) - 1})")
        return members[code]


@functools.cache
def _codes(cls) -> dict:
    return {m: i for i, m in enumerate(cls)}


@functools.cache
def solidity_enums() -> dict[str, list[str]]:
    """Enum name -> Solidity member names, in order, as the IAuctionHouse artifact records them."""
    enums = load_artifact("IAuctionHouse").get("enums", {}).get(SOURCE)
    if not enums:
        raise ArtifactError("the IAuctionHouse artifact carries no enums: run `thingbid contracts build`")
    return enums


def _enum(name: str) -> type[ChainEnum]:
    members = solidity_enums().get(name)
    if not members:
        raise ArtifactError(f"{SOURCE} declares no enum {name}: run `thingbid contracts build`")
    return ChainEnum(name, [(snake(m).upper(), snake(m)) for m in members], module=__name__)


State = _enum("State")
SkipReason = _enum("SkipReason")
RankResult = _enum("RankResult")


def house_abi() -> list[dict]:
    """The AuctionHouse ABI (functions, the events and errors IAuctionHouse declares)."""
    return load_artifact("AuctionHouse")["abi"]


@functools.cache
def house_events() -> dict[str, dict]:
    """Event name -> its ABI entry, as IAuctionHouse declares them."""
    return {x["name"]: x for x in load_artifact("IAuctionHouse")["abi"] if x.get("type") == "event"}


@functools.cache
def house_errors() -> frozenset[str]:
    """The names of every custom error the house may revert with."""
    return frozenset(x["name"] for x in load_artifact("IAuctionHouse")["abi"] if x.get("type") == "error")


__all__ = ["ChainEnum", "RankResult", "SkipReason", "State", "house_abi", "house_errors", "house_events",
           "solidity_enums", "snake"]
