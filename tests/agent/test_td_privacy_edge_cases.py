"""The TD goes on chain: a public_url must not carry credentials, or a query/fragment, into it."""

from __future__ import annotations

import pytest

from device_agent.config import AgentConfig
from device_agent.errors import AgentConfigError
from device_agent.td import build_td


@pytest.mark.parametrize("url", [
    "http://alice:hunter2@home.example:8080",
    "https://alice@home.example",
    "http://:secret@home.example",
    "http://home.example/?owner=alice",
    "http://home.example/#alice",
    "http://",
], ids=["user-and-password", "user", "password-only", "query", "fragment", "no-host"])
def test_public_url_with_credentials_or_query_is_refused(url):
    with pytest.raises(AgentConfigError, match="public_url"):
        AgentConfig(public_url=url).validate()


@pytest.mark.parametrize("url", ["http://home.example:8080", "https://relay.example/dev/abc", "http://[2001:db8::1]:80"])
def test_plain_public_urls_still_make_a_td(url):
    cfg = AgentConfig(public_url=url).validate()
    td = build_td(cfg, "11" * 32, url)
    assert td["base"] == url.rstrip("/") + "/"
