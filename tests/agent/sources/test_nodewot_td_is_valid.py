"""A TD produced by node-wot itself (an ExposedThing of the reference implementation) passes our validator."""

from __future__ import annotations

import base64
import json
import urllib.request

import pytest

from exchange.wot import validate_td
from exchange.wot.validate import schema_errors


def fetch_td(thing, auth: str, *secrets: str) -> dict:
    req = urllib.request.Request(thing.td_url)
    if auth == "basic":
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{secrets[0]}:{secrets[1]}".encode()).decode())
    if auth == "bearer":
        req.add_header("Authorization", f"Bearer {secrets[0]}")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


@pytest.mark.parametrize(("auth", "secrets"), [("nosec", ()), ("basic", ("alice", "s3cret")), ("bearer", ("tok",))])
def test_a_node_wot_exposed_thing_td_passes_our_validator(wot_thing, auth, secrets):
    td = fetch_td(wot_thing(auth, *secrets), auth, *secrets)
    assert td["properties"]["temperature"]["forms"], td  # it is node-wot's own TD, with its forms
    assert schema_errors(td) == []
    validate_td(td)
