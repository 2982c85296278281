"""Test helpers: run a real node (HTTP + SQLite) in this process, or as a separate process."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from exchange.tangle.node import Node, NodeConfig
from exchange.tangle.server import NodeServer
from exchange.waiting import poll_until


@contextlib.contextmanager
def run_node(tmp_path, **config):
    """Start a node on a free port in background threads; yields (base_url, node), stops it after."""
    tmp_path = Path(tmp_path)
    tmp_path.mkdir(parents=True, exist_ok=True)
    config.setdefault("db_url", f"sqlite:///{tmp_path / f'tangle-{time.monotonic_ns()}.db'}")
    node = Node(NodeConfig(**config))
    srv = NodeServer(node).start()
    try:
        yield srv.url, node
    finally:
        srv.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NodeProcess:
    """``thingbid tangle node`` as a child process (for multi-node and kill -9 tests)."""

    def __init__(self, db_path: Path, port: int | None = None, **config):
        self.db_path = Path(db_path)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = config
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 20) -> NodeProcess:
        cfg = {"db_url": f"sqlite:///{self.db_path}", **self.config}
        cmd = [sys.executable, "-m", "exchange.cli", "--log-level", "WARNING", "tangle", "node",
               "--port", str(self.port), "--config-json", json.dumps(cfg)]
        self._close_log()
        self.log = open(self.db_path.with_suffix(".log"), "ab")  # noqa: SIM115 (closed in kill/stop)
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ})
        from exchange.tangle.client import TangleClient
        from exchange.tangle.errors import TangleError

        c = TangleClient(self.url, timeout=2)
        def failed() -> TangleError:
            return TangleError(f"tangle node on {self.url} did not start: "
                               f"{self.db_path.with_suffix('.log').read_text()[-2000:]}")

        def answering() -> bool:
            try:
                c.info()
                return True
            except TangleError:
                if self.proc.poll() is not None:
                    raise failed() from None
                return False

        poll_until(answering, timeout=timeout, interval=0.1, on_timeout=failed)
        return self

    def _close_log(self) -> None:
        if getattr(self, "log", None):
            self.log.close()
            self.log = None

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._close_log()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_log()
