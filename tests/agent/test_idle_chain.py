"""Issue 17: on an idle local chain time must still move, keys must still be delivered, and the
agents' clocks must stay honest when chain time is moved by hand.

- ``thingbid up``'s chain (anvil as ``up`` starts it) mines on an interval, so an auction whose
  bidding ends while nobody sends a transaction is settled and its key delivered;
- on a chain that mines only on demand the agent waits for the first block past the end and
  settles from it, without sending (and logging) one ``SettlementTooEarly`` revert per tick;
- the agent's clock follows wall time forward after chain time was moved ahead, instead of
  standing still on the moved block's timestamp (a stream then repeats one reading).
"""

from __future__ import annotations

import logging
import time

import pytest

from device_agent.config import AgentConfig
from device_agent.runner import AgentRunner, init_agent
from exchange.chain.anvil import DEV_BLOCK_SECONDS, anvil_args, start_anvil
from exchange.chain.connect import rpc_chain
from exchange.chain.deploy import deploy_all
from tests.agent.conftest import PASSWORD, Bidder, wait_for

pytestmark = [pytest.mark.anvil, pytest.mark.slow]
BIDDING = 4


def sell_one_auction(chain, tmp_path, bid_wei=2 * 10**15):
    """An agent on ``chain`` opens an auction of BIDDING seconds and a bidder bids; returns
    (runner, bidder, auction id). Nothing else is sent afterwards."""
    manifest, _ = deploy_all(chain, tmp_path / "deployments", fresh=True)
    cfg = AgentConfig(appliance="fridge", seed=5, bidding_seconds=BIDDING, reserve_price_wei=10**15)
    data_dir = tmp_path / "fridge"
    init_agent(data_dir, PASSWORD, cfg, kdf_n=2**8)
    runner = AgentRunner(data_dir, PASSWORD, chain_url=chain.w3.provider.endpoint_uri, manifest=manifest,
                         sell_interval=0.2, streams=False, enable=True)
    chain.w3.eth.send_transaction({"from": chain.deployer, "to": runner.agent.address, "value": 10**19})
    bidder = Bidder(chain, manifest, chain.accounts[5])
    bidder.deposit(10**18)
    runner.start()
    auction = wait_for("an auction", lambda: runner.agent.state.auctions(), 60)[0]
    bidder.bid(auction.auction_id, bid_wei)
    return runner, bidder, auction.auction_id


def test_up_s_anvil_delivers_the_key_of_an_auction_that_ends_on_an_idle_chain(tmp_path):
    proc = start_anvil(port=None, block_time=DEV_BLOCK_SECONDS)  # as `thingbid up` starts it
    try:
        chain = rpc_chain(proc.url, kind="anvil")
        runner, bidder, aid = sell_one_auction(chain, tmp_path)
        try:
            # No transaction from anyone after the bid: only the chain's own blocks move time.
            wait_for("the key delivery on an idle chain", lambda: bidder.delivered_keys(aid), BIDDING + 30)
            assert bidder.open_key(aid).startswith("tb1.")
        finally:
            runner.stop()
    finally:
        proc.stop()


def test_on_a_chain_mining_on_demand_settlement_waits_for_the_first_block_past_the_end(tmp_path, caplog):
    proc = start_anvil(port=None)  # automine only: no block unless a transaction comes
    try:
        chain = rpc_chain(proc.url, kind="anvil")
        runner, bidder, aid = sell_one_auction(chain, tmp_path)
        try:
            with caplog.at_level(logging.INFO):
                time.sleep(BIDDING + 3)  # bidding is over by the wall clock; the chain has no block past it
                assert not bidder.delivered_keys(aid)
                too_early = [r for r in caplog.records if "SettlementTooEarly" in r.getMessage()]
                assert too_early == [], f"{len(too_early)} reverted settlement attempts logged"
                chain.w3.provider.make_request("evm_mine", [])  # the first block past the end
                wait_for("the key delivery after the first block past the end",
                         lambda: bidder.delivered_keys(aid), 30)
        finally:
            runner.stop()
    finally:
        proc.stop()


def test_the_agent_clock_moves_on_after_chain_time_was_moved_forward(tmp_path, anvil_chain):
    from device_agent.agent import DeviceAgent

    data_dir = tmp_path / "tv"
    init_agent(data_dir, PASSWORD, AgentConfig(appliance="tv", seed=2), kdf_n=2**8)
    agent = DeviceAgent(data_dir, PASSWORD)
    try:
        agent.chain = anvil_chain
        anvil_chain.time_travel(3600)
        moved = int(anvil_chain.w3.eth.get_block("latest")["timestamp"])
        first = agent.clock(fresh=True)
        time.sleep(2.2)
        second = agent.clock(fresh=True)
        assert first >= moved  # never before the chain: a key never outlasts its period
        assert second >= first + 2, f"the clock stood still at {first} for 2.2 s of wall time"
        assert second <= time.time() + 3600 + 5  # and it did not run away either
    finally:
        agent.close()


def test_anvil_args_with_a_block_time_mine_on_an_interval_and_on_every_transaction():
    args = anvil_args(8545, block_time=DEV_BLOCK_SECONDS)
    assert args[args.index("--block-time") + 1] == str(DEV_BLOCK_SECONDS) and "--mixed-mining" in args
    assert "--block-time" not in anvil_args(8545)


def test_the_embedded_chain_served_by_up_mines_while_idle():
    from exchange.chain.connect import embedded_chain
    from exchange.chain.rpcserver import EmbeddedRpcServer

    chain = embedded_chain()
    server = EmbeddedRpcServer(chain, block_seconds=DEV_BLOCK_SECONDS).start()
    try:
        def locked_now():
            with server.lock:  # eth-tester is not thread-safe
                return chain.now()

        start = locked_now()
        wait_for("chain time to move on an idle embedded chain", lambda: locked_now() >= start + 2, 10)
    finally:
        server.stop()


def test_readings_are_recorded_in_the_key_window_after_chain_time_was_moved_forward(tmp_path, anvil_chain):
    """Key periods are chain time: the recorder must hold readings for the hours the chain jumped
    over (stamped on the agent's chain-aware clock, not on wall time), or a key bought after the
    jump reads an empty window."""
    from device_agent.agent import DeviceAgent

    data_dir = tmp_path / "fridge"
    init_agent(data_dir, PASSWORD, AgentConfig(appliance="fridge", seed=4), kdf_n=2**8)
    agent = DeviceAgent(data_dir, PASSWORD)
    try:
        agent.chain = anvil_chain
        agent.source.catch_up(agent.recorder)
        anvil_chain.time_travel(3 * 3600)
        moved = int(anvil_chain.w3.eth.get_block("latest")["timestamp"])
        agent.clock(fresh=True)
        agent.source.catch_up(agent.recorder)
        window = agent.recorder.history("temperature", moved - 3600, moved)
        assert len(window) >= 55, f"{len(window)} readings in the last chain-time hour"
        assert max(r["t"] for r in window) >= moved - 60
    finally:
        agent.close()
