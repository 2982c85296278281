"""Gas per bid against batch size (the chart in docs/benchmarks.md): one row per batch size.

Fresh auctions, first bids, full escrow; ``gas_per_bid`` = the batch's ``gasUsed`` / its size,
so the transaction's fixed 21,000 gas and calldata overhead are shared by the batch.
"""

from __future__ import annotations

SIZES = (1, 5, 20, 50, 100, 200)


def rows(chain):
    from exchange.bench.gas_auction import market
    from exchange.chain.auction import OpenParams

    owner, alice = chain.accounts[1], chain.accounts[2]
    house, _reg, devices = market(chain, sum(SIZES), owner)
    eng = house.mechanism("english")
    house.register_buyer_key(b"\x11" * 32, alice)
    house.deposit(10**21, alice)
    ids = []
    for start in range(0, len(devices), 100):
        ids += house.open_batch([OpenParams(d, eng, reserve=10**15, increment=10**14, bidding_period=3600)
                                 for d in devices[start:start + 100]], owner)
    at = 0
    for size in SIZES:
        batch = ids[at:at + size]
        at += size
        receipt, _ = house.bid_batch(batch, [10**16] * size, alice, strict=True)
        yield {"op": "bid_batch_per_bid", "batch_size": size, "gas_per_bid": receipt["gasUsed"] // size}
