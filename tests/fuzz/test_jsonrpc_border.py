"""The embedded JSON-RPC server: a bad request gets a JSON-RPC error, never a 5xx (found by the fuzz suite)."""

from __future__ import annotations

import json

import pytest

from exchange.fuzz import Req, send


@pytest.fixture(scope="module")
def rpc():
    from exchange.chain.connect import embedded_chain
    from exchange.chain.rpcserver import EmbeddedRpcServer

    chain = embedded_chain()
    srv = EmbeddedRpcServer(chain).start()
    yield srv
    srv.stop()
    chain.close()


def _post(srv, body: bytes):
    host, port = srv.url.removeprefix("http://").split(":")
    resp = send(host, int(port), Req("POST", "/", (("Content-Type", "application/json"),), body))
    return resp.status, json.loads(resp.body)


@pytest.mark.parametrize("body", [
    b"[1, 2]",  # batch entries that are not objects
    b'["x"]',
    b"[]",  # empty batch
    b'{"method": 5}',
    b'{"method": "evm_increaseTime", "params": []}',
    b'{"method": "evm_increaseTime", "params": ["zz"]}',
    b'{"method": "evm_increaseTime", "params": [-5]}',
    b'{"method": "eth_getCode", "params": ["0x2B5AD5c4795c026514f8317c7a215E218DcD6cF", "latest"]}',  # odd hex
    b'{"method": "eth_getBalance", "params": 7}',
    b'{"id": [], "method": "eth_blockNumber"}',
    b"[" * 50_000 + b"]" * 50_000,
    b"1e999999",
    b'{"method": "eth_blockNumber", "params": [NaN]}',
])
def test_bad_json_rpc_request_gets_a_json_rpc_error_not_a_5xx(rpc, body):
    status, resp = _post(rpc, body)
    assert status < 500, (status, resp)
    items = resp if isinstance(resp, list) else [resp]
    assert items and all(isinstance(i.get("error"), dict) and i["error"]["message"] for i in items), resp


def test_good_calls_still_answer(rpc):
    status, resp = _post(rpc, b'[{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},'
                              b' {"jsonrpc": "2.0", "id": 2, "method": "evm_increaseTime", "params": [60]}]')
    assert status == 200 and "result" in resp[0] and "error" not in resp[0] and resp[1]["result"] == hex(60)


@pytest.mark.parametrize("method", ["eth_chainId", "eth_blockNumber", "eth_gasPrice", "net_version"])
def test_quantities_are_answered_in_json_rpc_wire_format(rpc, method):
    """Quantities are hex strings on the wire (net_version a decimal string): a number breaks
    strict clients such as viem in the browser wallet."""
    status, resp = _post(rpc, json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": []}).encode())
    result = resp.get("result")
    assert status == 200 and isinstance(result, str), resp
    if method == "net_version":
        assert result.isdigit(), result
    else:
        assert result.startswith("0x") and int(result, 16) >= 0, result
