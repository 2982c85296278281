import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.crypto.tokens import generate_ed25519
from exchange.streams.channel import ChannelReader, ChannelRoot, ChannelWriter, parse
from exchange.streams.errors import (
    BrokenLink,
    ForgedMessage,
    GapDetected,
    MalformedMessage,
    NoReadKey,
    ReorderedMessage,
)

SK, PK = generate_ed25519()


def writer(**kw):
    return ChannelWriter(SK, "temp", **kw)


def publish(w, n, start=0):
    return [w.seal(f"reading {start + i}".encode()) for i in range(n)]


def test_buyer_reads_exactly_its_span_then_nothing_after_rotation():
    w = writer()
    publish(w, 3)  # before the sale: not bought
    root = w.open_span(4)
    msgs = publish(w, 6, 3)
    r = ChannelReader(root)
    got = [r.accept(m).data for m in msgs[:4]]
    assert got == [b"reading 3", b"reading 4", b"reading 5", b"reading 6"]
    assert r.span_over
    with pytest.raises(NoReadKey):
        r.accept(msgs[4])


def test_earlier_messages_of_the_channel_are_unreadable_with_a_new_root():
    w = writer()
    old = publish(w, 2)
    root = w.open_span(2)
    r = ChannelReader(ChannelRoot(**{**root.__dict__, "seq": 0, "prev": "00" * 32}))
    with pytest.raises(NoReadKey):
        r.accept(old[0])


def test_overlapping_spans_get_grants_and_each_stops_at_its_end():
    w = writer()
    a = w.open_span(5)  # messages 0..4
    msgs = publish(w, 2)
    b = w.open_span(5)  # messages 2..6: rotates at 2, A gets a grant
    msgs += publish(w, 8, 2)
    ra, rb = ChannelReader(a), ChannelReader(b)
    assert [ra.accept(m).seq for m in msgs[:5]] == [0, 1, 2, 3, 4]
    assert [rb.accept(m).seq for m in msgs[2:7]] == [2, 3, 4, 5, 6]
    assert parse(msgs[2]).grants and parse(msgs[5]).grants  # A continues at 2, B continues at 5
    with pytest.raises(NoReadKey):
        ra.accept(msgs[5])
    with pytest.raises(NoReadKey):
        rb.accept(msgs[7])


def test_on_demand_rotation_keeps_paying_readers_reading():
    w = writer()
    root = w.open_span(6)
    msgs = publish(w, 2)
    w.rotate()
    msgs += publish(w, 4, 2)
    r = ChannelReader(root)
    assert [r.accept(m).epoch for m in msgs] == [1, 1, 2, 2, 2, 2]


def test_rotation_without_a_live_span_locks_out_old_key_holders():
    w = writer()
    root = w.open_span(100)
    first = publish(w, 1)
    r = ChannelReader(root)
    r.accept(first[0])
    # a key leaked from another reader is useless once the device rotates without granting it
    stolen = ChannelReader(ChannelRoot(**{**root.__dict__, "grant_key": "11" * 32}))
    stolen.accept(first[0])
    w.rotate()
    nxt = publish(w, 1, 1)[0]
    assert r.accept(nxt).seq == 1
    with pytest.raises(NoReadKey):
        stolen.accept(nxt)


def test_gap_is_detected():
    w = writer()
    root = w.open_span(5)
    msgs = publish(w, 3)
    with pytest.raises(GapDetected) as err:
        ChannelReader(root).accept(msgs[1])
    assert (err.value.expected, err.value.got) == (0, 1)


def test_reordered_or_replayed_message_is_detected():
    w = writer()
    root = w.open_span(5)
    msgs = publish(w, 3)
    r = ChannelReader(root)
    r.accept(msgs[0])
    r.accept(msgs[1])
    with pytest.raises(ReorderedMessage):
        r.accept(msgs[0])


def test_message_from_a_forked_history_breaks_the_link():
    w = writer()
    root = w.open_span(5)
    state = w.export_state()
    msgs = publish(w, 2)
    fork = ChannelWriter.from_state(SK, state)
    fork.seal(b"alternative 0")
    alt1 = fork.seal(b"alternative 1")  # validly signed, but links to another message 0
    r = ChannelReader(root)
    r.accept(msgs[0])
    with pytest.raises(BrokenLink):
        r.accept(alt1)


def test_message_signed_by_another_key_is_forged():
    other_sk, _ = generate_ed25519()
    w = writer()
    root = w.open_span(2)
    impostor = ChannelWriter.from_state(other_sk, w.export_state())
    impostor.channel = w.channel  # pretend to be the device's channel
    with pytest.raises(ForgedMessage):
        ChannelReader(root).accept(impostor.seal(b"fake"))


@pytest.mark.parametrize(("position", "error", "message"), [
    (4, ForgedMessage, "belongs to another channel"), (40, ForgedMessage, "bad device signature"),
    (50, ForgedMessage, "bad device signature"), (80, MalformedMessage, "grant list does not fit"),
    (-70, ForgedMessage, "bad device signature"), (-1, ForgedMessage, "bad device signature"),
])
def test_any_flipped_byte_is_rejected(position, error, message):
    w = writer()
    root = w.open_span(2)
    good = w.seal(b"a reading with some length")
    m = bytearray(good)
    m[position] ^= 0x04
    with pytest.raises(error, match=message):
        ChannelReader(root).accept(bytes(m))
    assert ChannelReader(root).accept(good).data == b"a reading with some length"


@pytest.mark.parametrize("bad", [b"", b"TBS1", b"XXXX" + bytes(200), "text"])
def test_garbage_is_malformed(bad):
    with pytest.raises(MalformedMessage):
        parse(bad)


def test_root_round_trips_and_rejects_garbage():
    root = writer().open_span(3, since=17)
    assert ChannelRoot.from_bytes(root.to_bytes()) == root
    assert root.span == 3
    for bad in (b"{}", b"null", root.to_bytes().replace(b'"span_end":3', b'"span_end":0')):
        with pytest.raises(MalformedMessage):
            ChannelRoot.from_bytes(bad)


@pytest.mark.parametrize("n", [0, -1, 1.0, True])
def test_span_must_be_positive(n):
    w = writer()
    before = w.export_state()
    with pytest.raises(ValueError, match="span must be a positive number of messages"):
        w.open_span(n)
    assert w.export_state() == before  # no rotation for a refused sale


@settings(max_examples=25, deadline=None)
@given(before=st.integers(0, 4), span=st.integers(1, 6), after=st.integers(1, 4),
       others=st.lists(st.tuples(st.integers(0, 8), st.integers(1, 6)), max_size=3),
       payload=st.binary(max_size=64))
def test_reader_reads_exactly_its_span_whatever_else_is_sold(before, span, after, others, payload):
    w = writer()
    msgs = [w.seal(payload) for _ in range(before)]
    root = w.open_span(span)
    for at, n in sorted(others):
        while len(msgs) < before + at:
            msgs.append(w.seal(payload))
        w.open_span(n)
    while len(msgs) < before + span + after:
        msgs.append(w.seal(payload))
    r = ChannelReader(root)
    got = [r.accept(m) for m in msgs[before:before + span]]
    assert [g.seq for g in got] == list(range(before, before + span)) and all(g.data == payload for g in got)
    with pytest.raises(NoReadKey):
        r.accept(msgs[before + span])


def test_writer_restored_from_stale_state_continues_the_chain():
    w = writer()
    root = w.open_span(10)
    saved = w.export_state()
    msgs = publish(w, 3)
    msgs.append(w.seal(b"x"))
    restored = ChannelWriter.from_state(SK, saved)
    other_sk, _ = generate_ed25519()
    noise = ChannelWriter.from_state(other_sk, saved).seal(b"not ours")
    assert restored.resume_after(list(reversed(msgs)) + [noise, b"junk"]) == 4
    msgs += publish(restored, 6, 4)
    r = ChannelReader(root)
    assert [r.accept(m).seq for m in msgs[:10]] == list(range(10))  # the running span got a grant


def test_resume_with_nothing_newer_changes_nothing():
    w = writer()
    publish(w, 2)
    before = w.export_state()
    assert w.resume_after([]) == 0 and w.export_state() == before


def _follower(root):
    from exchange.streams.follow import ChannelFollower

    return ChannelFollower(None, root, gap_timeout=0.0)


def test_follower_reads_a_shuffled_batch_with_forgeries_in_order():
    import random

    from exchange.streams.follow import ChannelFollower

    w = writer()
    root = w.open_span(20)
    msgs = publish(w, 20)
    other_sk, _ = generate_ed25519()
    forger = ChannelWriter.from_state(other_sk, {**w.export_state(), "seq": 5, "prev": "00" * 32})
    forger.channel = w.channel
    fake5 = forger.seal(b"fake")
    # a splice: message 7's header (so it links) with another body and no valid signature
    splice = msgs[7][:-80] + bytes(80)
    batch = msgs + [fake5, splice, msgs[3]]
    random.Random(1).shuffle(batch)
    f = ChannelFollower(None, root)
    for m in batch:
        f.offer(m)
    got = f.drain()
    assert [r.data for r in got] == [f"reading {i}".encode() for i in range(20)]
    assert f.forged == 2 and f.duplicates == 1 and f.done and f.reordered > 0


def test_forged_future_message_does_not_fake_a_gap():
    w = writer()
    root = w.open_span(5)
    msgs = publish(w, 2)
    other_sk, _ = generate_ed25519()
    forger = ChannelWriter.from_state(other_sk, {**w.export_state(), "seq": 3})
    forger.channel = w.channel
    f = _follower(root)
    f.offer(msgs[0])
    f.offer(forger.seal(b"x"))
    assert [r.seq for r in f.drain()] == [0]
    assert f.drain() == [] and f.forged == 1  # no GapDetected: the "later" message is not authentic
    f.offer(msgs[1])
    assert [r.seq for r in f.drain()] == [1]


def test_authentic_later_message_with_a_missing_one_is_a_gap():
    w = writer()
    root = w.open_span(5)
    msgs = publish(w, 3)
    f = _follower(root)
    f.offer(msgs[2])
    assert f.drain() == []
    with pytest.raises(GapDetected):
        f.drain()
