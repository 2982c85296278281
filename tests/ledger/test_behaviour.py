"""One behaviour suite, run against TangleLedger and EthereumLedger alike."""

import inspect

import pytest

from exchange.ledger import Confirmation, Ledger, LedgerRejected, wait_confirmed

PROTOCOL_METHODS = ["balance", "transfer", "incoming", "status", "publish", "read"]


def test_both_implement_the_protocol_with_its_signatures(ledgers):
    """isinstance() on a runtime_checkable Protocol checks names only: compare each method's parameters."""
    impl = ledgers.alice
    assert isinstance(impl, Ledger) and impl.kind == ledgers.kind
    assert isinstance(impl.address, str) and isinstance(impl.max_message_size, int) and impl.max_message_size > 0
    for name in PROTOCOL_METHODS:
        want = inspect.signature(getattr(Ledger, name)).parameters
        got = inspect.signature(getattr(type(impl), name)).parameters
        assert [(p.name, p.kind, p.default) for p in got.values()] == \
            [(p.name, p.kind, p.default) for p in want.values()], f"{type(impl).__name__}.{name}"


def test_transfer_with_memo_arrives_confirmed_with_exact_amount(ledgers):
    a, b = ledgers.alice, ledgers.bob
    before = b.balance()
    _, cursor = b.incoming()
    ref = a.transfer(b.address, 1234, b"for span 7")
    wait_confirmed(a, ref)
    assert a.status(ref) is Confirmation.CONFIRMED
    payments, _ = b.incoming(since=cursor)
    (p,) = [p for p in payments if p.ref == ref]
    assert (p.sender.lower(), p.to.lower(), p.amount, p.memo) == (a.address.lower(), b.address.lower(), 1234,
                                                                   b"for span 7")
    assert b.balance() == before + 1234


def test_incoming_from_cursor_returns_only_newer_payments(ledgers):
    a, b = ledgers.alice, ledgers.bob
    first = a.transfer(b.address, 1, b"one")
    wait_confirmed(a, first)
    got, cursor = b.incoming()
    assert first in {p.ref for p in got}
    second = a.transfer(b.address, 2, b"two")
    wait_confirmed(a, second)
    newer, cursor2 = b.incoming(since=cursor)
    assert [p.ref for p in newer] == [second]
    assert b.incoming(since=cursor2)[0] == []


def test_incoming_to_another_address_is_not_mixed_in(ledgers):
    a, b = ledgers.alice, ledgers.bob
    carol = ledgers.make()
    wait_confirmed(a, a.transfer(carol.address, 5, b"to carol"))
    assert all(p.to.lower() == b.address.lower() for p in b.incoming()[0])
    assert [p.amount for p in carol.incoming()[0]] == [5]


def test_publish_and_read_by_tag_from_cursor(ledgers):
    a, b = ledgers.alice, ledgers.bob
    r1 = a.publish("offers/test", b"first")
    wait_confirmed(a, r1)
    msgs, cursor = b.read("offers/test")
    assert [m.data for m in msgs] == [b"first"] and msgs[0].tag == "offers/test"
    wait_confirmed(a, a.publish("offers/test", b"second"))
    wait_confirmed(a, a.publish("offers/other", b"elsewhere"))
    msgs, _ = b.read("offers/test", since=cursor)
    assert [m.data for m in msgs] == [b"second"]


def test_stream_channel_tag_round_trips_binary(ledgers):
    a = ledgers.alice
    tag = "ab" * 32
    data = bytes(range(256)) * 4
    wait_confirmed(a, a.publish(tag, data))
    assert [m.data for m in a.read(tag)[0]] == [data]


@pytest.mark.parametrize("amount", [0, -5, 1.5, "10"])
def test_bad_amount_is_rejected_and_nothing_moves(ledgers, amount):
    a, b = ledgers.alice, ledgers.bob
    before = (a.balance(), b.balance(), len(b.incoming()[0]))
    with pytest.raises(LedgerRejected, match="amount must be a positive integer"):
        a.transfer(b.address, amount, b"")
    assert (a.balance(), b.balance(), len(b.incoming()[0])) == before


def test_overspending_is_rejected(ledgers):
    poor = ledgers.make()
    if ledgers.kind == "ethereum":  # eth-tester accounts are rich; spend more than there is
        amount = poor.balance() + 1
    else:
        amount = 1
    with pytest.raises(LedgerRejected, match="insufficient"):
        poor.transfer(ledgers.bob.address, amount, b"")


def test_oversized_memo_and_message_are_rejected(ledgers):
    a = ledgers.alice
    before = (a.balance(), ledgers.bob.balance())
    with pytest.raises(LedgerRejected, match="memo of 20000 bytes exceeds"):
        a.transfer(ledgers.bob.address, 1, b"m" * 20000)
    with pytest.raises(LedgerRejected, match=f"message of {a.max_message_size + 1} bytes exceeds"):
        a.publish("big", b"x" * (a.max_message_size + 1))
    assert (a.balance(), ledgers.bob.balance()) == before and a.read("big")[0] == []


def test_unknown_reference_is_unknown(ledgers):
    ref = "0x" + "11" * 32 if ledgers.kind == "ethereum" else "11" * 32
    assert ledgers.alice.status(ref) is Confirmation.UNKNOWN
    assert ledgers.alice.status("nonsense") is Confirmation.UNKNOWN


def test_unreachable_tangle_node_is_a_ledger_error():
    from exchange.ledger import LedgerError
    from exchange.ledger.tangle import TangleLedger

    ledger = TangleLedger.connect("http://127.0.0.1:1", timeout=1)
    with pytest.raises(LedgerError):
        ledger.balance()
    with pytest.raises(LedgerError):
        ledger.read("x")
