"""An event the catalog cannot apply is quarantined with its reason, and indexing goes on (issue 13).

Before: one such event failed its whole block range, every pass, for ever: the follow loop backed
off and retried it but never got past it, so the catalog stopped for every device after it.
"""

from __future__ import annotations

import logging

import pytest
from eth_utils import keccak

from exchange.catalog import Catalog
from exchange.catalog import indexer as ix_mod
from exchange.catalog.indexer import Indexer
from exchange.chain.devicekey import DeviceKey
from exchange.wot import canonical_td
from exchange.wot.samples import appliance_td


def _check_in(chain, reg, seed: str, title: str | None = None) -> bytes:
    key = DeviceKey.from_seed(keccak(seed.encode()))
    td = appliance_td("Refrigerator", "u33db", device_id=f"urn:dev:thingbid:{seed}")
    if title is not None:
        td["title"] = title
    reg.check_in(key, canonical_td(td), keccak(b"k" + seed.encode()), keccak(b"s" + seed.encode()), "t", 1,
                 sender=chain.accounts[1])
    return key.device_id


def test_an_event_whose_handler_fails_is_quarantined_with_its_reason_and_the_others_are_indexed(
        chain, reg, tmp_path, monkeypatch, caplog):
    before = _check_in(chain, reg, "before")
    poison = _check_in(chain, reg, "poison")
    after = _check_in(chain, reg, "after")
    real = ix_mod.HANDLERS["DeviceCheckedIn"]

    def handler(b, ev):
        if ev.args["deviceId"] == poison:
            raise KeyError("a field this handler did not expect")
        real(b, ev)

    monkeypatch.setitem(ix_mod.HANDLERS, "DeviceCheckedIn", handler)
    db = f"sqlite:///{tmp_path / 'catalog.db'}"
    ix = Indexer(chain, reg.address, db)
    with caplog.at_level(logging.WARNING, logger="thingbid.indexer"):
        r = ix.sync()
    assert r.to_block == chain.w3.eth.block_number  # the cursor went past the bad event
    cat = Catalog(db)
    assert cat.device(before) is not None and cat.device(after) is not None
    assert cat.device(poison) is None
    [q] = ix.quarantined()
    assert q["event"] == "DeviceCheckedIn" and q["device_id"] == "0x" + poison.hex()
    assert "KeyError" in q["reason"] and "did not expect" in q["reason"]
    assert any("quarantined" in m and "DeviceCheckedIn" in m for m in caplog.messages), caplog.messages
    ix.sync()  # a later pass neither retries it nor quarantines it twice
    assert len(ix.quarantined()) == 1


def test_a_transient_database_error_is_retried_not_quarantined(chain, reg, tmp_path, monkeypatch):
    import sqlalchemy.exc

    _check_in(chain, reg, "one")
    db = f"sqlite:///{tmp_path / 'catalog.db'}"
    ix = Indexer(chain, reg.address, db)
    real = ix_mod.apply_events

    def locked(conn, events, handlers=None):
        raise sqlalchemy.exc.OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(ix_mod, "apply_events", locked)
    with pytest.raises(sqlalchemy.exc.OperationalError):
        ix.sync()
    assert ix.quarantined() == [] and ix.status()["next_block"] == 0
    monkeypatch.setattr(ix_mod, "apply_events", real)
    ix.sync()
    assert ix.quarantined() == [] and ix.status()["next_block"] == chain.w3.eth.block_number + 1


@pytest.mark.postgres
def test_a_td_title_with_a_nul_byte_does_not_stop_the_postgresql_catalog(chain, reg, postgres_url):
    """PostgreSQL refuses NUL in text: that device's check-in failed its range (and every device after it) for ever."""
    first = _check_in(chain, reg, "first")
    nul = _check_in(chain, reg, "nul", title="Fri\x00dge")
    last = _check_in(chain, reg, "last")
    ix = Indexer(chain, reg.address, postgres_url)
    ix.sync()
    cat = Catalog(postgres_url)
    assert cat.device(first) is not None and cat.device(last) is not None
    d = cat.device(nul)  # indexed, the NUL shown as U+FFFD (the stored TD keeps its exact bytes)
    assert d is not None and d.title == "Fri\ufffddge" and ix.quarantined() == []
    assert cat.device(nul).td["title"] == "Fri\x00dge"
