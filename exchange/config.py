"""Settings: defaults, overridden by a TOML file, overridden by environment variables.

The TOML file is ``$THINGBID_CONFIG`` if set, else ``./thingbid.toml`` if present. Every
key may also be set as ``THINGBID_<KEY>`` in upper case (``THINGBID_RPC_URL`` ...).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from exchange.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Settings:
    """Where things are and which services to talk to."""

    state_dir: Path = field(default_factory=lambda: REPO_ROOT / ".thingbid")
    rpc_url: str = "http://127.0.0.1:8545"
    database_url: str = ""  # empty: SQLite under state_dir
    tangle_url: str = "http://127.0.0.1:14265"
    deployments_dir: Path = field(default_factory=lambda: REPO_ROOT / "deployments")
    confirmations: int = 0
    log_level: str = "INFO"

    def sqlite_url(self, name: str) -> str:
        """SQLite URL for a named database under the state dir (the embedded default)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.state_dir / (name + '.db')}"


def _coerce(name: str, raw, kind):
    try:
        if kind is Path or kind == "Path":
            return Path(raw).expanduser()
        if kind is int or kind == "int":
            return int(raw)
        return str(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name}: {raw!r} is not a valid {getattr(kind, '__name__', kind)}") from exc


def load_settings(path: str | os.PathLike | None = None, env: dict | None = None) -> Settings:
    """Build settings from defaults, the TOML file and the environment (in that order)."""
    env = os.environ if env is None else env
    settings = Settings()
    file = Path(path) if path else Path(env.get("THINGBID_CONFIG", "thingbid.toml"))
    values: dict = {}
    if file.exists():
        try:
            values = tomllib.loads(file.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {file}: {exc}") from exc
    elif path:
        raise ConfigError(f"config file {file} does not exist")
    known = {f.name: f.type for f in fields(Settings)}
    for key in values:
        if key not in known:
            raise ConfigError(f"config file {file}: unknown setting {key!r} (known: {', '.join(sorted(known))})")
    for name, kind in known.items():
        raw = env.get(f"THINGBID_{name.upper()}", values.get(name))
        if raw is not None:
            setattr(settings, name, _coerce(name, raw, kind))
    return settings
