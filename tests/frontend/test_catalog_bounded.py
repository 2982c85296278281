"""Issue 21: the catalog page never pulls a full scan into Python; its count is bounded and says so."""

from __future__ import annotations

import random
import re

import pytest
from sqlalchemy.engine import cursor as sa_cursor

from frontend import catalog_adapter as ca

DEVICES = 4_000  # more than the page's bound (ca.MAP_LIMIT), still quick to fill


@pytest.fixture(scope="module")
def big_url(tmp_path_factory):
    from exchange.bench.catalog import fill
    from exchange.catalog.db import analyze, create_tables, make_engine

    url = f"sqlite:///{tmp_path_factory.mktemp('big') / 'catalog.db'}"
    engine = make_engine(url)
    create_tables(engine)
    fill(engine, DEVICES, random.Random(5))
    analyze(engine)
    engine.dispose()
    return url


@pytest.fixture
def big_app(deployed, deployed_m, big_url, tmp_path):
    from frontend import create_app
    from frontend.services import Services

    chain, manifest = deployed_m
    services = Services(chain, manifest, big_url, "http://127.0.0.1:9", tmp_path / "keystores", dev_faucet=True,
                        index_on_read=False)
    return create_app({"THINGBID_SERVICES": services, "TESTING": True, "KEYSTORE_SCRYPT_N": 2**12})


class RowsFetched:
    """Counts every row SQLAlchemy fetches from a DBAPI cursor into Python (all engines)."""

    def __init__(self, monkeypatch):
        self.rows = 0
        for name in ("fetchone", "fetchmany", "fetchall"):
            orig = getattr(sa_cursor.CursorFetchStrategy, name)

            def counted(strategy, *a, _orig=orig, **kw):
                out = _orig(strategy, *a, **kw)
                self.rows += (out is not None) if not isinstance(out, list) else len(out)
                return out
            monkeypatch.setattr(sa_cursor.CursorFetchStrategy, name, counted)


@pytest.mark.parametrize("path", ["/catalog/", "/catalog/?type=Refrigerator&page=3", "/catalog/?q=kitchen"])
def test_a_catalog_page_fetches_rows_bounded_by_the_page_not_by_the_catalog(big_app, monkeypatch, path):
    c = big_app.test_client()
    assert c.get(path).status_code == 200  # warm: the vocabulary and the sessions' tables exist
    fetched = RowsFetched(monkeypatch)
    assert c.get(path).status_code == 200
    per_page = 50  # the form's default
    # The page's ids with a look-ahead of 5 pages, its rows and their affordances, the map's
    # bounded points, the type list: never one row per matching device (4,000 here).
    bound = ca.MAP_LIMIT + 1 + 6 * per_page + 10 * per_page + 100
    assert 0 < fetched.rows <= bound < DEVICES, fetched.rows


def test_a_count_past_the_bound_says_more_than_and_agrees_between_count_map_and_pager(big_app):
    html = big_app.test_client().get("/catalog/?per_page=20").get_data(as_text=True)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert re.search(r'id="result-count"><strong>more than 1,000</strong> matching devices<', html)
    assert "1000 of more than 1,000 matching devices placed on the map" in text
    assert "page 1 of more than 50 · next »" in text
    html = big_app.test_client().get("/catalog/?page=51").get_data(as_text=True)  # past the bound: still pages on
    assert 'rel="prev"' in html and 'class="title"' in html
