"""A node-wot client discovers the catalog as a WoT Thing Description Directory (issue 15):
exploreDirectory over the directory's TD, paging /things through the TD's uriVariables,
retrieveThing, and a consume of every catalog Thing."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("nodewot_directory.js")


@pytest.fixture
def served(world_app):
    if shutil.which("node") is None or not (ROOT / "node_modules" / "@node-wot" / "core").is_dir():
        pytest.skip("node-wot is not installed: run ./scripts/setup")
    server = make_server("127.0.0.1", 0, world_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)


def test_node_wot_discovers_pages_retrieves_and_consumes_the_catalog_things(served, world_app):
    expected = [td["id"] for td in world_app.test_client().get("/things?limit=1000").get_json()]
    run = subprocess.run(["node", str(SCRIPT), served + "/.well-known/wot"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert run.returncode == 0, out
    assert out["error"] is None  # node-wot's own TD schema accepted every TD
    assert out["discovered"] == expected and len(expected) == 30
    assert out["page"] == expected[2:5]
    assert out["retrieved"] == expected[0]
    assert [c["id"] for c in out["consumed"]] == expected
    assert all(c["properties"] for c in out["consumed"])
