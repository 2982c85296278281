"""The fuzz suite: every registered server takes 20,000 generated hostile requests (issue 13).

No 5xx, no dropped connection, a JSON reason on every 4xx, state unchanged by every refused
request. A failure names the seed: replay with THINGBID_FUZZ_SEED=<seed>. THINGBID_FUZZ_REQUESTS
changes the count (for a longer local run).
"""

from __future__ import annotations

import os

import pytest

from exchange.fuzz import KINDS, run
from exchange.fuzz.targets import TARGETS, load, tangle_node

REQUESTS = int(os.environ.get("THINGBID_FUZZ_REQUESTS", "20000"))


@pytest.mark.parametrize("server", sorted(TARGETS))
def test_server_answers_every_hostile_request_with_2xx_or_4xx_and_refusals_change_nothing(server, tmp_path):
    with load(server)(tmp_path) as target:
        stats = run(target, REQUESTS)
    assert stats.requests >= REQUESTS
    assert stats.status_5xx == 0 and "dropped" not in stats.status
    assert set(stats.kinds) == set(KINDS), f"kinds never generated: {set(KINDS) - set(stats.kinds)}"
    row = stats.row()
    assert row["status_4xx"] > REQUESTS // 10 and row["status_2xx"] > REQUESTS // 10, row


@pytest.mark.postgres
def test_tangle_node_on_postgresql_answers_hostile_requests_without_5xx(postgres_url, tmp_path):
    with tangle_node(tmp_path, db_url=postgres_url) as target:
        stats = run(target, 3000)
    assert stats.status_5xx == 0 and "dropped" not in stats.status
