"""The injected test wallet (tests/browser/js/test_wallet_provider.js): bundled once, relayed to anvil.

A unique module name: tests/ is not a package.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCE = Path(__file__).resolve().parent / "js" / "test_wallet_provider.js"


def bundle_provider(out_dir: Path) -> str:
    """The provider as one script (viem bundled by the repo's pinned esbuild)."""
    out = out_dir / "test_wallet_provider.js"
    subprocess.run([str(REPO / "node_modules" / ".bin" / "esbuild"), str(SOURCE), "--bundle", "--format=iife",
                    "--target=chrome120", "--log-level=warning", f"--outfile={out}"], check=True, cwd=REPO)
    return out.read_text()


class RpcRelay:
    """Forwards the wallet's node calls to the chain's JSON-RPC; remembers every call for the tests."""

    def __init__(self, rpc_url: str):
        self.url = rpc_url
        self.calls: list[dict] = []
        self.asked: list[str] = []  # every method the page asked the wallet, node-bound or not

    def note(self, method: str) -> None:
        self.asked.append(method)

    def __call__(self, payload: str) -> str:
        call = json.loads(payload)
        self.calls.append(call)
        body = json.dumps({"jsonrpc": "2.0", "id": len(self.calls), "method": call["method"],
                           "params": call.get("params", [])}).encode()
        req = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.read().decode()


def install_wallet(context, bundle: str, private_key: str, rpc_url: str, chain_id: int | None = None) -> RpcRelay:
    """Give every page of ``context`` the test wallet as ``window.ethereum``."""
    relay = RpcRelay(rpc_url)
    context.expose_function("__walletRpc", relay)
    context.expose_function("__walletNote", relay.note)
    config = {"privateKey": private_key, "chainId": chain_id}
    context.add_init_script(f"window.__testWallet = {json.dumps(config)};\n{bundle}")
    return relay


class RequestRecorder:
    """WSGI middleware keeping every request the app receives (line, headers, body), to search for secrets."""

    def __init__(self, wsgi_app):
        self.inner = wsgi_app
        self.seen: list[bytes] = []

    def __call__(self, environ, start_response):
        import io

        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        head = [f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')}?{environ.get('QUERY_STRING', '')}"]
        head += [f"{k}: {v}" for k, v in environ.items() if k.startswith("HTTP_")]
        self.seen.append("\n".join(head).encode() + b"\n\n" + body)
        return self.inner(environ, start_response)

    def holds(self, *needles: bytes) -> list[bytes]:
        """Every request containing any needle (case-insensitive)."""
        low = [n.lower() for n in needles if n]
        return [r for r in self.seen if any(n in r.lower() for n in low)]
