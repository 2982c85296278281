"""Logging set-up shared by every command. Never log key material."""

import logging
import os


def setup_logging(level: str | None = None) -> None:
    level = (level or os.environ.get("THINGBID_LOG_LEVEL", "INFO")).upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
