"""Turn any revert that web3 or eth-tester raises into ``ContractRevert(name, args)``.

Custom errors are looked up by selector in every artifact's ABI, so a revert from any of our
contracts decodes the same way on eth-tester (``TransactionFailed``) and on anvil
(``ContractCustomError``).
"""

from __future__ import annotations

import ast
import functools
import json
import re

from eth_abi import decode
from eth_utils import keccak

from exchange.chain.artifacts import BUILD_DIR
from exchange.errors import ContractRevert

_HEX = re.compile(r"0x[0-9a-fA-F]{8,}")
_BYTES_REPR = re.compile(r"b'(?:[^'\\]|\\.)*'" + r'|b"(?:[^"\\]|\\.)*"')
ERROR_STRING = bytes.fromhex("08c379a0")
PANIC = bytes.fromhex("4e487b71")


def _type_str(inp: dict) -> str:
    t = inp["type"]
    if t.startswith("tuple"):
        return "(" + ",".join(_type_str(c) for c in inp["components"]) + ")" + t[len("tuple"):]
    return t


@functools.lru_cache(maxsize=1)
def error_table() -> dict[bytes, tuple[str, list[str]]]:
    """selector -> (error name, argument types) over every compiled contract."""
    table: dict[bytes, tuple[str, list[str]]] = {}
    for path in BUILD_DIR.glob("*.json"):
        for item in json.loads(path.read_text())["abi"]:
            if item.get("type") == "error":
                types = [_type_str(i) for i in item["inputs"]]
                table[keccak(text=f"{item['name']}({','.join(types)})")[:4]] = (item["name"], types)
    return table


def decode_revert_data(data: bytes) -> ContractRevert:
    if data[:4] == ERROR_STRING:
        return ContractRevert("Error", decode(["string"], data[4:]))
    if data[:4] == PANIC:
        return ContractRevert("Panic", decode(["uint256"], data[4:]))
    entry = error_table().get(data[:4])
    if entry is None:
        return ContractRevert("UnknownError", (data.hex(),))
    name, types = entry
    try:
        return ContractRevert(name, decode(types, data[4:]))
    except Exception:  # noqa: BLE001 - malformed arguments still name the error
        return ContractRevert(name, ())


def revert_data(exc: BaseException) -> bytes | None:
    """The raw revert bytes carried by a web3 / eth-tester exception, if any."""
    candidates = [getattr(exc, "data", None), *getattr(exc, "args", ())]
    ctx = exc.__context__
    while ctx is not None:  # eth-tester chains TransactionFailed(Revert(b"..."))
        candidates += [getattr(ctx, "data", None), *getattr(ctx, "args", ())]
        ctx = ctx.__context__
    for c in candidates:
        if isinstance(c, bytes | bytearray) and len(c) >= 4:
            return bytes(c)
        if isinstance(c, BaseException) and c.args and isinstance(c.args[0], bytes | bytearray) and len(c.args[0]) >= 4:
            return bytes(c.args[0])
        if isinstance(c, str):
            m = _HEX.search(c)
            if m and len(m.group(0)) % 2 == 0:  # odd length: a caller's mangled value quoted back, not data
                return bytes.fromhex(m.group(0)[2:])
            lit = _BYTES_REPR.search(c)  # eth-tester replays put the data in the text as b'...'
            if lit:
                try:
                    value = ast.literal_eval(lit.group(0))
                except (ValueError, SyntaxError):
                    value = None
                if isinstance(value, bytes) and len(value) >= 4:
                    return value
        if isinstance(c, dict):
            inner = c.get("data")
            if isinstance(inner, str) and inner.startswith("0x") and len(inner) >= 10:
                return bytes.fromhex(inner[2:])
    return None


def is_revert(exc: BaseException) -> bool:
    name = type(exc).__name__
    return name in {"ContractCustomError", "ContractLogicError", "TransactionFailed", "ContractPanicError"} or "revert" in str(exc).lower()


def raise_decoded(exc: BaseException, w3=None) -> None:
    """Raise ContractRevert from ``exc`` when it is a revert; return otherwise."""
    if isinstance(exc, ContractRevert) or not is_revert(exc):
        return
    data = revert_data(exc)
    if data is None:
        raise ContractRevert("Revert", (), f"reverted without data: {exc}") from exc
    raise decode_revert_data(data) from exc
