"""A development wallet in Chromium for benchmarks and browser tests: never used by the app itself.

``frontend/js/devwallet.js`` is an EIP-1193 provider holding one test key (viem's local account signs
for real); ``install`` bundles it with the repo's pinned esbuild, relays its node calls to a local
chain's JSON-RPC through Playwright (as a wallet extension talks to its node outside the page's CSP)
and puts it in every page of a browser context as ``window.ethereum``.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = Path(__file__).resolve().parent / "js" / "devwallet.js"
CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--no-first-run",
               "--disable-component-update", "--disable-sync"]


def bundle(out_dir: Path | None = None) -> str:
    """The provider as one script (viem bundled in)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(out_dir or tmp) / "devwallet.js"
        subprocess.run([str(REPO / "node_modules" / ".bin" / "esbuild"), str(SOURCE), "--bundle", "--format=iife",
                        "--target=chrome120", "--log-level=warning", f"--outfile={out}"], check=True, cwd=REPO)
        return out.read_text()


class RpcRelay:
    """Forwards the wallet's node calls to the chain's JSON-RPC; remembers every call and every method asked."""

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


def install(context, script: str, private_key: str, rpc_url: str, chain_id: int | None = None) -> RpcRelay:
    """Give every page of ``context`` the wallet (``script`` from :func:`bundle`) as ``window.ethereum``.

    ``chain_id`` makes the wallet claim another chain (as a wallet switched to another network would).
    """
    relay = RpcRelay(rpc_url)
    context.expose_function("__walletRpc", relay)
    context.expose_function("__walletNote", relay.note)
    config = {"privateKey": private_key, "chainId": chain_id}
    context.add_init_script(f"window.__testWallet = {json.dumps(config)};\n{script}")
    return relay
