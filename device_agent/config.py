"""The agent's config: what the owner chose (appliance, what is sold, prices, schedule, endpoints).

Stored as ``agent.json`` in the agent's data dir. It holds no secret; keys live in the
encrypted key files beside it. The precise location stays here and only its geohash cell
is ever published.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

from device_agent.anonymise import scrub_tags
from device_agent.errors import AgentConfigError
from device_agent.profiles import profile
from exchange.chain.deploy import mechanism_names

CONFIG_FILE = "agent.json"
DAY = 86_400
MAX_DELIVERY_SECONDS = 7 * DAY  # the house's cap on a delivery window (docs/auction.md)
MECHANISMS = tuple(mechanism_names())  # the deploy plan's mechanisms; a device's code is the index
STREAM_LEDGERS = ("tangle", "ethereum")  # where stream spans are sold (the selectable Ledger)


def _check_public_url(url: str, what: str = "public_url") -> None:
    """The URL goes into the TD, which is published on chain: scheme and host (and a path) only."""
    if not url.startswith(("http://", "https://")):
        raise AgentConfigError(f"{what} {url!r} must start with http:// or https://")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise AgentConfigError(f"{what} {url!r} has a bad port") from None
    if "@" in parts.netloc:  # never echo it: it may hold a password
        raise AgentConfigError(f"{what} must not contain user info (user:password@): the TD is published")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise AgentConfigError(f"{what} {url!r} must have no query or fragment: the TD's hrefs are built on it")
    if not parts.hostname:
        raise AgentConfigError(f"{what} {url!r} names no host")


def require_publishable_url(base_url: str) -> None:
    """The TD's hrefs go on chain: a base URL on port 0 (a free port picked at each start) would
    change with every restart and cost an update transaction each time."""
    try:
        port = urlsplit(base_url).port
    except ValueError as exc:
        raise AgentConfigError(f"base URL {base_url!r} has a bad port") from exc
    if port == 0:
        raise AgentConfigError(f"the TD would point at {base_url} (port 0): set a fixed --port or --public-url "
                               "with `device-agent init`")


@dataclass
class AgentConfig:
    appliance: str = "fridge"
    seed: int = 0  # simulator seed (a real appliance would read its sensors instead)
    lat: float = 52.52
    lon: float = 13.405
    geohash_precision: int = 5
    tz_offset_h: float = 0.0
    tags: list[str] = field(default_factory=list)
    sell: list[str] | None = None  # property names for sale; None = all
    sell_events: list[str] | None = None  # event names for sale; None = all the source offers
    # Where readings come from (device_agent.sources): {} = the simulator of ``appliance``;
    # {"kind": "wot", "url", "auth"} or {"kind": "mqtt", "url", "properties", ...}. No secret here.
    source: dict = field(default_factory=dict)
    # The recorder (device_agent.recorder): how long readings are kept, and at most how many per property.
    retention_days: int = 92
    recorder_max_rows: int = 5_000_000
    # Auctions: one per access period, opened by the agent itself.
    auto_auction: bool = True
    mechanism: str = "english"
    reserve_price_wei: int = 10**15
    min_increment_wei: int = 10**14
    bidding_seconds: int = 3600
    access_period_seconds: int = 30 * DAY
    delivery_window_seconds: int = DAY  # at most MAX_DELIVERY_SECONDS (the house refuses more)
    # English auctions: a bid in the last anti_snipe_seconds moves the end that far out, so a
    # last-second bid cannot shut out a counter-bid (0 turns it off; the reveal window for sealed).
    anti_snipe_seconds: int = 600
    withdraw_every_seconds: int = 3600
    # Streams: micro-sales of the live readings.
    stream_price_per_message: int = 1
    stream_price_per_minute: int = 0
    publish_every_seconds: float = 5.0
    stream_ledgers: list[str] = field(default_factory=lambda: ["tangle"])  # any of STREAM_LEDGERS; [] = none
    # HTTP serving.
    http_host: str = "127.0.0.1"
    http_port: int = 0  # 0: a free port at start
    public_url: str = ""  # base URL put in the TD forms; default http://host:port
    # Relays (``thingbid relay``) the agent dials out to; when given, the TD's forms point at
    # RELAY/devices/<device id> on each of them (the first is the TD's base), never at this host.
    relay_urls: list[str] = field(default_factory=list)
    rate_per_second: float = 20.0
    rate_burst: int = 40
    oem_key_file: str = ""  # optional OEM keystore used to attest the device at check-in

    def anti_snipe_window(self) -> int:
        """The extension the agent opens English auctions with: anti_snipe_seconds, at most a sixth
        of the bidding time, so a 60 s demo auction is not kept open ten minutes by its first bid."""
        return min(self.anti_snipe_seconds, self.bidding_seconds // 6)

    def validate(self) -> AgentConfig:
        from device_agent.sources import source_kind, validate_source_config

        validate_source_config(self.source)
        if source_kind(self.source) == "simulator":
            profile(self.appliance, self.sell)  # unknown appliance / property names
        elif self.sell is not None and not self.sell:
            raise AgentConfigError("at least one property must be for sale")
        for name in ("retention_days", "recorder_max_rows"):
            v = getattr(self, name)
            if type(v) is not int or v <= 0:
                raise AgentConfigError(f"{name} must be a positive integer, got {v!r}")
        if not -90 <= self.lat <= 90 or not -180 <= self.lon <= 180:
            raise AgentConfigError(f"location ({self.lat}, {self.lon}) is outside -90..90 / -180..180")
        if not 1 <= self.geohash_precision <= 7:
            raise AgentConfigError("geohash_precision must be 1..7 (8+ would locate a single building)")
        if self.mechanism not in MECHANISMS:
            raise AgentConfigError(f"mechanism {self.mechanism!r} is not one of {', '.join(MECHANISMS)}")
        for name in ("reserve_price_wei", "min_increment_wei", "stream_price_per_message", "stream_price_per_minute"):
            v = getattr(self, name)
            if type(v) is not int or v < 0:
                raise AgentConfigError(f"{name} must be a non-negative integer, got {v!r}")
        if self.stream_price_per_message == 0 and self.stream_ledgers:
            # A span must cost something: 0 would be a free stream (it used to become 1 silently).
            raise AgentConfigError("stream_price_per_message must be at least 1 when streams are sold "
                                   "(stream_ledgers is not empty); sell no streams with stream_ledgers []")
        if self.reserve_price_wei >= 2**80:
            raise AgentConfigError("reserve_price_wei must fit in 80 bits")
        for name in ("bidding_seconds", "access_period_seconds", "delivery_window_seconds", "withdraw_every_seconds"):
            v = getattr(self, name)
            if type(v) is not int or v <= 0:
                raise AgentConfigError(f"{name} must be a positive integer, got {v!r}")
        if self.delivery_window_seconds > MAX_DELIVERY_SECONDS:
            raise AgentConfigError(f"delivery_window_seconds must be at most {MAX_DELIVERY_SECONDS} (7 days): the "
                                   f"winner's payment is locked that long; got {self.delivery_window_seconds}")
        if type(self.anti_snipe_seconds) is not int or not 0 <= self.anti_snipe_seconds < 2**24:
            raise AgentConfigError(f"anti_snipe_seconds must be an integer 0..16777215, got {self.anti_snipe_seconds!r}")
        ledgers = self.stream_ledgers
        if not isinstance(ledgers, list) or not all(isinstance(x, str) for x in ledgers):
            raise AgentConfigError(f"stream_ledgers must be a list of ledger names, got {ledgers!r}")
        unknown = [x for x in ledgers if x not in STREAM_LEDGERS]
        if unknown:
            raise AgentConfigError(f"stream_ledgers: unknown ledger {unknown[0]!r} "
                                   f"(known: {', '.join(STREAM_LEDGERS)})")
        if len(set(ledgers)) != len(ledgers):
            raise AgentConfigError(f"stream_ledgers lists a ledger twice: {ledgers!r}")
        if self.publish_every_seconds <= 0 or self.rate_per_second <= 0 or self.rate_burst < 1:
            raise AgentConfigError("publish_every_seconds, rate_per_second and rate_burst must be positive")
        if type(self.http_port) is not int or not 0 <= self.http_port <= 65535:
            raise AgentConfigError(f"http_port {self.http_port} is not a port")
        if self.http_host in ("0.0.0.0", "::", "") and not self.public_url:
            raise AgentConfigError(f"http_host {self.http_host!r} listens everywhere: set public_url for the TD forms")
        if self.public_url:
            _check_public_url(self.public_url)
        if not isinstance(self.relay_urls, list) or not all(isinstance(u, str) for u in self.relay_urls):
            raise AgentConfigError(f"relay_urls must be a list of URLs, got {self.relay_urls!r}")
        self.relay_urls = [u.rstrip("/") for u in self.relay_urls]
        for url in self.relay_urls:
            _check_public_url(url, "relay URL")
        if len(set(self.relay_urls)) != len(self.relay_urls):
            raise AgentConfigError(f"relay_urls lists a relay twice: {self.relay_urls!r}")
        self.tags = scrub_tags(self.tags)
        return self

    def require_publishable(self) -> None:
        """This config's own base URL may go on chain (see ``require_publishable_url``)."""
        if self.relay_urls:
            return  # the TD names the relays; this host's port is never published
        require_publishable_url(self.public_url or f"http://{self.http_host}:{self.http_port}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: dict) -> AgentConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise AgentConfigError(f"unknown config keys: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        try:
            return cls(**data).validate()
        except TypeError as exc:
            raise AgentConfigError(f"bad config: {exc}") from exc


def save_config(data_dir: Path, config: AgentConfig) -> Path:
    config.validate()
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / CONFIG_FILE
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(config.to_json())
    os.replace(tmp, path)
    return path


def load_config(data_dir: Path) -> AgentConfig:
    path = Path(data_dir) / CONFIG_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise AgentConfigError(f"no agent config at {path}: run `device-agent init`") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise AgentConfigError(f"agent config {path} is not readable JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise AgentConfigError(f"agent config {path} must be a JSON object")
    return AgentConfig.from_dict(data)
