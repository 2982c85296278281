"""The upstream's own credentials (a WoT Thing's basic/bearer secrets, an MQTT login), encrypted at
rest beside the device keys (``source-credentials.json``, the same scrypt + AES-GCM key file as
``device-keys.json``, under the agent's password). They never go into agent.json, the TD or a log."""

from __future__ import annotations

from pathlib import Path

from exchange.crypto import load_keys, save_keys

CREDENTIALS_FILE = "source-credentials.json"


def save_credentials(data_dir: Path, password: str, creds: dict[str, str], *, kdf_n: int | None = None) -> Path:
    kwargs = {"scrypt_n": kdf_n} if kdf_n else {}
    return save_keys(Path(data_dir) / CREDENTIALS_FILE, password, {k: v.encode() for k, v in creds.items()}, **kwargs)


def load_credentials(data_dir: Path, password: str) -> dict[str, str]:
    """The stored credentials; {} when the source needs none."""
    path = Path(data_dir) / CREDENTIALS_FILE
    if not path.exists():
        return {}
    return {k: v.decode() for k, v in load_keys(path, password).items()}
