"""Start (or reuse) the anvil local chain shipped by the npm package @foundry-rs/anvil."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from exchange.config import REPO_ROOT
from exchange.errors import ChainConnectionError
from exchange.waiting import poll_until

ANVIL_CHAIN_ID = 31337
# Local chains that ``thingbid up`` runs mine a block at least this often, so chain time follows
# wall time while nobody transacts (an auction that ends on an idle chain still settles).
DEV_BLOCK_SECONDS = 1


def anvil_binary() -> Path:
    """The anvil executable: $THINGBID_ANVIL, the npm platform package, or anvil on PATH."""
    env = os.environ.get("THINGBID_ANVIL")
    candidates = [Path(env)] if env else []
    candidates += sorted((REPO_ROOT / "node_modules" / "@foundry-rs").glob("anvil-*/bin/anvil"))
    on_path = shutil.which("anvil")
    if on_path:
        candidates.append(Path(on_path))
    for c in candidates:
        if c.exists() and os.access(c, os.X_OK):
            return c
    raise ChainConnectionError("anvil not found: run ./scripts/setup (installs @foundry-rs/anvil from npm)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rpc_chain_id(url: str, timeout: float = 1.0) -> int | None:
    """eth_chainId of the endpoint, or None when nothing answers there."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(json.loads(resp.read())["result"], 16)
    except Exception:  # noqa: BLE001 - any failure means "not a usable endpoint"
        return None


@dataclass
class AnvilProcess:
    url: str
    port: int
    process: subprocess.Popen | None  # None when an already-running anvil is reused

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def anvil_args(port: int, block_time: float | None = None) -> list[str]:
    """anvil's command line. With ``block_time`` it mines on that interval *and* on every
    transaction (mixed mining): time moves on an idle chain, transactions still mine at once."""
    args = [str(anvil_binary()), "--host", "127.0.0.1", "--port", str(port), "--accounts", "20",
            "--balance", "1000000", "--gas-limit", "60000000", "--code-size-limit", "100000"]
    if block_time:
        args += ["--block-time", str(block_time), "--mixed-mining"]
    return args


def start_anvil(port: int | None = None, reuse: bool = False, block_time: float | None = None,
                extra_args: list[str] | None = None, log_path: Path | None = None) -> AnvilProcess:
    """Start anvil on 127.0.0.1:port (a free port when None); reuse one already there if asked.
    Without ``block_time`` it mines only on transactions (tests that move time themselves)."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    if reuse and rpc_chain_id(url) is not None:
        return AnvilProcess(url, port, None)
    args = anvil_args(port, block_time) + (extra_args or [])
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    anvil = AnvilProcess(url, port, proc)

    def answering() -> bool:
        if proc.poll() is not None:
            raise ChainConnectionError(f"anvil exited with code {proc.returncode} (port {port} in use?)")
        return rpc_chain_id(url, timeout=0.3) is not None

    def gave_up() -> ChainConnectionError:
        anvil.stop()
        return ChainConnectionError(f"anvil did not answer on {url} within 20 s")

    poll_until(answering, timeout=20, on_timeout=gave_up)
    return anvil
