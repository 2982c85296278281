"""One source for the auction vocabulary (issue 14): contracts/IAuctionHouse.sol declares the enums,
events and errors; the artifacts carry them; Python loads them; nothing mirrors them by hand."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from exchange.chain.artifacts import load_artifact
from exchange.chain.vocabulary import RankResult, SkipReason, State, house_errors, house_events, snake
from exchange.config import REPO_ROOT

SOURCE = REPO_ROOT / "contracts" / "IAuctionHouse.sol"


def _source_enums() -> dict[str, list[str]]:
    """The enums as the Solidity text declares them (read without the compiler: catches a stale artifact)."""
    text = re.sub(r"//[^\n]*", "", SOURCE.read_text())
    return {m.group(1): [x.strip() for x in m.group(2).split(",") if x.strip()]
            for m in re.finditer(r"\benum\s+(\w+)\s*\{([^}]*)\}", text)}


def test_python_enums_have_the_members_of_the_solidity_source_in_order():
    source = _source_enums()
    assert set(source) == {"State", "SkipReason", "RankResult"}
    for py in (State, SkipReason, RankResult):
        assert [m.value for m in py] == [snake(x) for x in source[py.__name__]]
        assert [m.code for m in py] == list(range(len(source[py.__name__])))


def test_enum_members_compare_as_names_and_map_codes_both_ways():
    assert State.AWAITING_KEY == "awaiting_key" and State.of(State.AWAITING_KEY.code) is State.AWAITING_KEY
    assert SkipReason.of(SkipReason.BELOW_PRICE.code) == "below_price"
    with pytest.raises(ValueError, match="not a State code"):
        State.of(len(State))


def test_the_abi_types_house_and_mechanism_values_with_the_shared_enums():
    house = {x["name"]: x for x in load_artifact("AuctionHouse")["abi"] if "name" in x}
    assert house["WrongState"]["inputs"][1]["internalType"] == "enum State"
    assert house["BidRejected"]["inputs"][1]["internalType"] == "enum SkipReason"
    assert house["BidSkipped"]["inputs"][3]["internalType"] == "enum SkipReason"
    assert house["auction"]["outputs"][0]["components"][3]["internalType"] == "enum State"
    for mech in ("IAuctionMechanism", "EnglishAuction", "SealedSecondPrice"):
        rank = next(x for x in load_artifact(mech)["abi"] if x.get("name") == "rank")
        assert rank["outputs"][0]["internalType"] == "enum RankResult", mech


def test_the_mechanism_abi_carries_no_house_bookkeeping():
    """A standing as a mechanism sees it is a bidder and an amount; the house's `primed` gas trick
    stays inside the house."""
    rank = next(x for x in load_artifact("IAuctionMechanism")["abi"] if x.get("name") == "rank")
    for arg in rank["inputs"][:3] + rank["outputs"][1:]:
        assert [c["name"] for c in arg["components"]] == ["bidder", "amount"], arg["name"]


def test_every_house_event_and_error_is_declared_in_the_interface_with_natspec():
    impl = load_artifact("AuctionHouse")["abi"]
    for kind, declared in (("event", set(house_events())), ("error", set(house_errors()))):
        assert {x["name"] for x in impl if x["type"] == kind} == declared, kind
    iface = load_artifact("IAuctionHouse")
    user = {**iface["userdoc"].get("events", {}), **iface["userdoc"].get("errors", {})}
    documented = {sig.split("(")[0] for sig in user}
    missing = (set(house_events()) | set(house_errors())) - documented
    assert not missing, f"without a @notice: {sorted(missing)}"


_MEMBERS = sorted({m.value for e in (State, SkipReason, RankResult) for m in e} - {"none"}, key=len, reverse=True)
_CAMEL = sorted({x for ms in _source_enums().values() for x in ms} - {"None"}, key=len, reverse=True)
# A number next to a member's name: {2: "awaiting_key"}, "rated": 6, # 6: rated, (aid, 6)  # rated
_ALT = "|".join(_MEMBERS)
_PY_MIRROR = re.compile(rf"""\b\d+\s*:\s*["']({_ALT})["']|["']({_ALT})["']\s*:\s*\d+\b|#\s*\d+\s*[:=]\s*({_ALT})\s*$""")
# A Solidity constant spelling a member out: uint8 private constant RATED = 6;
_SOL_ALT = "|".join(m.upper() for m in _MEMBERS)
_SOL_MIRROR = re.compile(rf"\buint8\s+(?:private|internal|public)?\s*constant\s+(?:R_)?({_SOL_ALT})\b")


def _mirrors() -> list[str]:
    found = []
    for top in ("exchange", "device_agent", "frontend", "tests"):
        for path in sorted((REPO_ROOT / top).rglob("*.py")):
            if path.resolve() == Path(__file__).resolve():
                continue  # this file spells mirrors out on purpose
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if _PY_MIRROR.search(line):
                    found.append(f"{path.relative_to(REPO_ROOT)}:{n}: {line.strip()}")
    for top in ("contracts", "tests/foundry"):
        for path in sorted((REPO_ROOT / top).rglob("*.sol")):
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if _SOL_MIRROR.search(line):
                    found.append(f"{path.relative_to(REPO_ROOT)}:{n}: {line.strip()}")
    return found


def test_no_file_mirrors_the_vocabulary_by_hand():
    found = _mirrors()
    assert not found, "hand-written copies of IAuctionHouse's enums (load exchange.chain.vocabulary):\n" + "\n".join(found)


def test_the_mirror_scan_sees_a_python_dict_a_comment_and_a_solidity_constant(tmp_path):
    assert _PY_MIRROR.search('STATES = {0: "none", 6: "rated"}')
    assert _PY_MIRROR.search("assert err.args == (aid, 6)  # 6: rated")
    assert _PY_MIRROR.search('{"awaiting_key": 2}')
    assert _SOL_MIRROR.search("    uint8 private constant R_BELOW_PRICE = 4;")
    assert not _PY_MIRROR.search('if info.state == "awaiting_key" and n == 2:')
    assert not _PY_MIRROR.search("# step 2: open the page, then bid")
    assert _CAMEL  # the source parse found members
