"""Both ledgers behind one fixture (anvil only where a test asks for it: the suite's time budget)."""

import pytest


@pytest.fixture(params=["tangle", "ethereum"])
def ledgers(request, tmp_path):
    from exchange.ledger.testing import ledger_env

    chain = request.getfixturevalue("anvil_chain") if request.param == "anvil" else None
    with ledger_env("ethereum" if chain else request.param, tmp_path, chain=chain) as env:
        yield env
