"""Start services in order, wait until each is ready, stop all of them (reverse order) on exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from exchange.errors import ExchangeError
from exchange.waiting import poll_until


class ServiceError(ExchangeError, RuntimeError):
    """A service did not start or died."""


def http_ready(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=0.5) as resp:
                return resp.status < 500
        except Exception:  # noqa: BLE001 - not up yet
            return False

    return check


def file_ready(path: Path) -> Callable[[], bool]:
    return lambda: path.exists()


@dataclass
class Service:
    name: str
    argv: list[str]
    ready: Callable[[], bool] | None = None
    describe: str = ""  # the one line printed when ready (URL, ...)
    env: dict[str, str] = field(default_factory=dict)
    timeout: float = 60.0
    process: subprocess.Popen | None = None
    log_path: Path | None = None


class Supervisor:
    def __init__(self, state_dir: Path, echo: Callable[[str], None] = print):
        self.state_dir = state_dir
        self.logs = state_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.services: list[Service] = []
        self.echo = echo

    def start(self, svc: Service) -> Service:
        svc.log_path = self.logs / f"{svc.name}.log"
        log = open(svc.log_path, "ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **svc.env}
        svc.process = subprocess.Popen(svc.argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        log.close()
        self.services.append(svc)
        def ready() -> bool:
            if svc.process.poll() is not None:
                raise ServiceError(f"{svc.name} exited with code {svc.process.returncode}; last log lines:\n{self.tail(svc)}")
            return svc.ready()

        if svc.ready is not None:
            poll_until(ready, timeout=svc.timeout, interval=0.1, on_timeout=lambda: ServiceError(
                f"{svc.name} not ready after {svc.timeout:.0f} s; last log lines:\n{self.tail(svc)}"))
        self.echo(f"{svc.name:12} {svc.describe or 'started'}  (pid {svc.process.pid}, log {svc.log_path})")
        return svc

    @staticmethod
    def tail(svc: Service, lines: int = 15) -> str:
        try:
            return "\n".join(svc.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def check_alive(self) -> None:
        for svc in self.services:
            if svc.process and svc.process.poll() is not None:
                raise ServiceError(f"{svc.name} died with code {svc.process.returncode}; last log lines:\n{self.tail(svc)}")

    def stop_all(self) -> None:
        for svc in reversed(self.services):
            p = svc.process
            if p is None or p.poll() is not None:
                continue
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for svc in reversed(self.services):
            p = svc.process
            if p is None:
                continue
            try:
                p.wait(timeout=8)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        self.services.clear()


def python_cmd(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
