"""Both ledgers behind one fixture, so every behaviour test runs on each (Ethereum also on anvil)."""

import pytest


@pytest.fixture(params=["tangle", "ethereum", pytest.param("anvil", marks=pytest.mark.anvil)])
def ledgers(request, tmp_path):
    from exchange.ledger.testing import ledger_env

    chain = request.getfixturevalue("anvil_chain") if request.param == "anvil" else None
    with ledger_env("ethereum" if chain else request.param, tmp_path, chain=chain) as env:
        yield env
