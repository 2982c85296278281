"""Encoding, PoW, keystore, tip selection, rate limit, dev-only faucet, restart from SQL."""

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.errors import ConfigError, KeystoreError
from exchange.tangle import tx as txm
from exchange.tangle.errors import TangleRejected, TxFormatError
from exchange.tangle.node import Node, NodeConfig
from exchange.tangle.tipsel import Graph, TipSelector
from exchange.tangle.wallet import Wallet
from tests.tangle.helpers import faucet_wallet, settle, transfer

W = Wallet.from_seed(b"units")


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from([txm.VALUE, txm.DATA, txm.STREAM, txm.MILESTONE]),
       parents=st.lists(st.binary(min_size=32, max_size=32), min_size=2, max_size=8),
       data=st.binary(max_size=300), amount=st.integers(1, 2**64 - 1), seq=st.integers(0, 2**64 - 1),
       tag=st.text(st.characters(categories=("L", "N", "P")), min_size=1, max_size=16),
       ts=st.integers(0, 2**63))
def test_encoding_round_trips_and_the_id_is_the_hash(kind, parents, data, amount, seq, tag, ts):
    payload = {txm.VALUE: lambda: txm.value_payload(bytes(32), amount, seq, data[:100]),
               txm.DATA: lambda: txm.data_payload(tag, data),
               txm.STREAM: lambda: txm.stream_payload(bytes(range(32)), data),
               txm.MILESTONE: lambda: txm.milestone_payload(seq)}[kind]()
    raw = txm.build(W._key, kind, payload, parents, network=7, difficulty=4, timestamp_ms=ts)
    t = txm.decode(raw)
    assert (t.kind, t.network, t.timestamp, t.issuer) == (kind, 7, ts, W.public_key)
    assert list(t.parents) == sorted(parents)
    assert t.id == txm.blake(raw) and txm.pow_ok(t.id, 4) and t.verify_signature()
    assert t.payload == payload
    assert txm.essence(7, kind, ts, t.parents, W.public_key, payload) == raw[: t.essence_len]


@pytest.mark.parametrize("difficulty", [0, 6, 10, 13])
def test_pow_meets_the_difficulty_and_verification_is_the_id_hash(difficulty):
    raw = txm.build(W._key, txm.DATA, txm.data_payload("p", b"x"), [txm.GENESIS_ID] * 2, network=1,
                    difficulty=difficulty)
    tx_id = txm.blake(raw)
    assert txm.pow_ok(tx_id, difficulty)
    assert int.from_bytes(tx_id, "big").bit_length() <= 256 - difficulty


@pytest.mark.parametrize(("bad", "message"), [
    (lambda: txm.value_payload("00" * 31, 1, 0), "address must be 32 bytes"),
    (lambda: txm.value_payload("00" * 32, 0, 0), "amount must be positive"),
    (lambda: txm.value_payload("00" * 32, 1, 0, b"m" * (txm.MAX_MEMO + 1)), "memo longer than"),
    (lambda: txm.data_payload("", b""), "tag must be 1..64 printable"),
    (lambda: txm.data_payload("t" * 65, b""), "tag must be 1..64 printable"),
    (lambda: txm.data_payload("a\nb", b""), "tag must be 1..64 printable"),
    (lambda: txm.stream_payload("ab", b""), "channel id must be 32 bytes"),
    (lambda: txm.essence(1, txm.DATA, 0, [txm.GENESIS_ID], W.public_key, b"\x01t"), "need 2..8 parents"),
    (lambda: txm.essence(1, txm.DATA, 0, [txm.GENESIS_ID] * 9, W.public_key, b"\x01t"), "need 2..8 parents"),
])
def test_builders_refuse_bad_fields(bad, message):
    with pytest.raises(TxFormatError, match=message):
        bad()


def test_keystore_round_trip_wrong_password_and_tamper(tmp_path):
    w = Wallet.generate()
    path = w.save(tmp_path / "w.json", "pw")
    assert (path.stat().st_mode & 0o777) == 0o600
    assert Wallet.load(path, "pw").address == w.address
    assert w._key.private_bytes_raw().hex() not in path.read_text()
    with pytest.raises(KeystoreError, match="wrong password"):
        Wallet.load(path, "nope")
    d = json.loads(path.read_text())
    d["n"] = 2**10  # a weaker KDF setting must not open silently
    (tmp_path / "t.json").write_text(json.dumps(d))
    with pytest.raises(KeystoreError, match="wrong password or tampered file"):
        Wallet.load(tmp_path / "t.json", "pw")
    with pytest.raises(KeystoreError, match="does not exist"):
        Wallet.load(tmp_path / "missing.json", "pw")


def _chain(g, start, n, ts0, prefix):
    prev = start
    ids = []
    for i in range(n):
        t = txm.blake(prefix + bytes([i]))
        g.add(t, (prev, prev), ts0 + i)
        ids.append(t)
        prev = t
    return ids


def test_walk_follows_the_heavier_branch_and_never_picks_lazy_tips():
    g = Graph()
    heavy = _chain(g, txm.GENESIS_ID, 30, 1_000_000, b"h")
    light = _chain(g, txm.GENESIS_ID, 2, 1_000_000, b"l")
    lazy = txm.blake(b"lazy")
    g.add(lazy, (txm.GENESIS_ID, txm.GENESIS_ID), 1_000_100)  # approves only the very old genesis
    sel = TipSelector(g, alpha=1.0, lazy_age_ms=60_000, rng=random.Random(1))
    picks = [sel.walk(txm.GENESIS_ID) for _ in range(200)]
    assert lazy in g.tipset and lazy not in picks
    assert picks.count(heavy[-1]) > 190
    assert set(picks) <= {heavy[-1], light[-1]}
    # alpha 0 is a uniform walk: the light branch gets picked sometimes
    uniform = TipSelector(g, alpha=0.0, lazy_age_ms=60_000, rng=random.Random(2))
    assert light[-1] in {uniform.walk(txm.GENESIS_ID) for _ in range(100)}


def test_unsolid_transactions_wait_for_missing_parents():
    g = Graph()
    a, b = txm.blake(b"a"), txm.blake(b"b")
    assert g.add(b, (a, a), 2) == []
    assert g.missing() == [a] and b not in g.solid
    assert set(g.add(a, (txm.GENESIS_ID, txm.GENESIS_ID), 1)) == {a, b}
    assert g.tipset == {b}


@pytest.fixture
def node(tmp_path):
    n = Node(NodeConfig(db_url=f"sqlite:///{tmp_path / 'n.db'}", difficulty=6, run_coordinator=False,
                        rate_per_s=1, rate_burst=3))
    yield n
    n.stop()


def test_rate_limit_per_issuer(node):
    f = faucet_wallet()
    other = Wallet.from_seed(b"other-issuer")
    for i in range(3):
        node.ingest(txm.build(W._key, txm.DATA, txm.data_payload("r", b"%d" % i), node.select_tips(2),
                              network=1, difficulty=6))
    with pytest.raises(TangleRejected) as exc:
        node.ingest(txm.build(W._key, txm.DATA, txm.data_payload("r", b"x"), node.select_tips(2),
                              network=1, difficulty=6))
    assert exc.value.status == 429
    node.ingest(txm.build(other._key, txm.DATA, txm.data_payload("r", b"y"), node.select_tips(2), network=1,
                          difficulty=6))  # another issuer is not affected
    assert f.address in node.accounts


def test_faucet_only_on_dev_networks(tmp_path):
    prod = Node(NodeConfig(db_url=f"sqlite:///{tmp_path / 'p.db'}", dev=False, coordinator_pubkey="11" * 32,
                           genesis={}, run_coordinator=False))
    with pytest.raises(TangleRejected) as exc:
        prod.faucet(W.address, 1)
    assert exc.value.status == 403
    prod.stop()
    with pytest.raises(ConfigError, match="non-dev network needs coordinator_pubkey"):
        NodeConfig(dev=False).coordinator_public()


def test_restart_from_sql_gives_the_same_ledger_and_refuses_another_genesis(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    n = Node(NodeConfig(db_url=url, difficulty=6, run_coordinator=False, rate_per_s=0))
    f, x = faucet_wallet(), Wallet.from_seed(b"x")
    for amount in (5, 7, 11):
        n.ingest(transfer(n, f, x.address, amount))
    settle(n)
    pending = n.ingest(transfer(n, f, x.address, 13))  # stored, not yet confirmed
    state = (n.balance(x.address), n.latest_milestone, n.count, n.supply())
    n.stop()
    n2 = Node(NodeConfig(db_url=url, difficulty=6, run_coordinator=False, rate_per_s=0))
    assert (n2.balance(x.address), n2.latest_milestone, n2.count, n2.supply()) == state == (23, state[1], 4 + state[1],
                                                                                          10**15)
    assert n2.account_info(f.address)["next_sequence"] == 4 and pending.id in n2.unconfirmed
    settle(n2)
    assert n2.balance(x.address) == 36
    n2.stop()
    with pytest.raises(ConfigError, match="genesis"):
        Node(NodeConfig(db_url=url, genesis={x.address: 1}, run_coordinator=False))


@pytest.mark.postgres
def test_node_on_postgresql(postgres_url):
    n = Node(NodeConfig(db_url=postgres_url, difficulty=6, run_coordinator=False, rate_per_s=0))
    f, x = faucet_wallet(), Wallet.from_seed(b"pg")
    n.ingest(transfer(n, f, x.address, 42))
    settle(n)
    n.stop()
    n2 = Node(NodeConfig(db_url=postgres_url, difficulty=6, run_coordinator=False))
    assert n2.balance(x.address) == 42 and n2.supply() == 10**15
    n2.stop()


def test_client_turns_a_node_dying_mid_answer_into_tangle_unavailable():
    import socket
    import threading

    from exchange.tangle.client import TangleClient
    from exchange.tangle.errors import TangleUnavailable

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def half_answer():  # promises 74 bytes, sends none, hangs up
        conn, _ = srv.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 74\r\n\r\n")
        conn.close()

    t = threading.Thread(target=half_answer)
    t.start()
    with pytest.raises(TangleUnavailable):
        TangleClient(f"http://127.0.0.1:{srv.getsockname()[1]}", timeout=5).info()
    t.join()
    srv.close()
