"""Client, wallet and node end to end in one process (the API the streams/ledger code uses)."""

from exchange.tangle.client import TangleClient
from exchange.tangle.testing import run_node
from exchange.tangle.wallet import Wallet


def test_faucet_send_publish_and_history_through_the_client(tmp_path):
    with run_node(tmp_path) as (url, node):
        c = TangleClient(url)
        a, b = Wallet.generate(), Wallet.generate()
        assert c.wait_confirmed(c.faucet(a.address, 1000))["confirmed"]
        a.send(c, b.address, 300, b"hi")
        last = a.send(c, b.address, 200)
        assert c.wait_confirmed(last)["confirmed"]
        assert (c.balance(a.address), c.balance(b.address)) == (500, 500)
        m = a.publish(c, "temp", b"21.5")
        s = a.publish_stream(c, "ab" * 32, b"x")
        items, cursor = c.find(tag="temp")
        assert [i["id"] for i in items] == [m] and items[0]["payload"]["data"] == b"21.5".hex()
        assert [i["id"] for i in c.find(tag="ab" * 32)[0]] == [s]
        assert c.find(tag="temp", since=cursor)[0] == []
        assert len(a.history(c)) == 5  # faucet in, two out, two messages
        assert c.milestones()[0]["index"] == 1
        assert node.supply() == c.info()["tx_count"] * 0 + 10**15
