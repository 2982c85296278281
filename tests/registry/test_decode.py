"""The fast ABI decoder agrees with eth-abi on the registry's event layouts."""

from __future__ import annotations

from eth_abi import decode, encode
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.chain.registry import fast_decode

TYPES = ["bytes", "bytes32", "string", "uint80", "uint8", "bool", "address"]


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300), st.binary(min_size=32, max_size=32), st.text(max_size=40),
       st.integers(0, 2**80 - 1), st.integers(0, 255), st.booleans(), st.binary(min_size=20, max_size=20))
def test_fast_decode_matches_eth_abi(b, b32, text, u80, u8, flag, addr):
    values = [b, b32, text, u80, u8, flag, "0x" + addr.hex()]
    data = encode(TYPES, values)
    assert fast_decode(TYPES, data) == decode(TYPES, data)


def test_unsupported_or_truncated_input_falls_back():
    assert fast_decode(["uint256[]"], encode(["uint256[]"], [[1]])) is None
    assert fast_decode(["bytes"], encode(["bytes"], [b"abc"])[:40]) is None
