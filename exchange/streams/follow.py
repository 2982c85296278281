"""Following a channel on a ledger: fetch, drop forgeries, put reordered messages back in order.

The strict ``ChannelReader`` needs messages in order; a ledger (a tangle above all) may deliver
them out of order, twice, or next to messages anyone posted under the channel's tag.
``ChannelFollower`` buffers candidates per sequence number, picks the one that links to the
hash of the last accepted message, and reads in order. ``forged`` counts messages that do
not authenticate or conflict with the authenticated chain, ``reordered`` those read in order
although a later one had arrived first, ``duplicates`` copies of messages already read; ``GapDetected`` is
raised when a later message has waited ``gap_timeout`` seconds for a missing one.

The root's ``since`` is the seller's ledger cursor when it opened the span, a hint to skip
the channel's history. On a tangle a cursor is one node's arrival number, so read from
another node it can point past the span's first messages. The follower therefore takes it
as a hint only: if it has waited ``gap_timeout`` for the span's first message, or for a
missing one, it rewinds once to the start of the ledger before it reports a gap.

Signatures: every message is signed, and every message's signature covers the hash of the
one before. So for a run of messages that link to each other, a valid signature on the last
authenticates the whole run (SHA-256 collision resistance): the follower checks that one
signature per contiguous run and falls back to checking each message when it fails. Live,
a run is one message (one check each); catching up, a run is a whole page.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from exchange.ledger.base import Ledger
from exchange.streams.channel import ChannelReader, ChannelRoot, Header, Reading, message_hash, parse
from exchange.streams.errors import ForgedMessage, GapDetected, MalformedMessage

MAX_CANDIDATES = 8  # per sequence number: bounds what a flood of forgeries can make us hold


class ChannelFollower:
    def __init__(self, ledger: Ledger, root: ChannelRoot, gap_timeout: float = 5.0):
        self.ledger = ledger
        self.root = root
        self.reader = ChannelReader(root)
        self.cursor = root.since
        self.gap_timeout = gap_timeout
        self.rewound = root.since == 0  # nothing to rewind: already reading from the start
        self._started = time.monotonic()
        self.skipped = 0  # messages from before the span (read again after a rewind)
        self._buffer: dict[int, list[tuple[bytes, Header]]] = {}
        self._waiting_since: float | None = None
        self._arrival: dict[bytes, int] = {}  # buffered message -> arrival number
        self._arrivals = 0
        self._last_arrival = -1  # highest arrival number among accepted messages
        self.forged = 0
        self.reordered = 0
        self.duplicates = 0

    @property
    def done(self) -> bool:
        return self.reader.span_over

    def offer(self, wire: bytes) -> None:
        """Take one raw message from the ledger (any order, possibly hostile)."""
        try:
            h = parse(wire)
        except MalformedMessage:
            self.forged += 1
            return
        if h.channel != self.reader.channel:
            self.forged += 1
            return
        if h.seq < self.root.seq:
            self.skipped += 1  # channel history before the span: never ours to read
            return
        if h.seq < self.reader.next_seq:
            self.duplicates += 1
            return
        if h.seq >= self.root.span_end:
            return  # not bought: never even try
        cands = self._buffer.setdefault(h.seq, [])
        if any(w == wire for w, _ in cands):
            self.duplicates += 1
        elif len(cands) < MAX_CANDIDATES:
            cands.append((bytes(wire), h))
            self._arrival[bytes(wire)] = self._arrivals
            self._arrivals += 1
        else:
            self.forged += 1

    def _signed(self, wire: bytes) -> bool:
        try:
            self.reader.verify(wire)
            return True
        except (ForgedMessage, MalformedMessage):
            return False

    def _run(self) -> list[tuple[bytes, Header]]:
        """The longest chain of buffered messages linking on from the last accepted one."""
        run, seq, prev = [], self.reader.next_seq, self.reader.prev
        while seq < self.root.span_end and seq in self._buffer:
            cands = [c for c in self._buffer[seq] if c[1].prev == prev]
            if len(cands) > 1:  # a forgery copied the link: only the signature tells them apart
                cands = [c for c in cands if self._signed(c[0])]
            if not cands:
                break
            run.append(cands[0])
            seq, prev = seq + 1, message_hash(cands[0][0])
        return run

    def _discard(self, seq: int, keep: bytes | None) -> None:
        for wire, _ in self._buffer.pop(seq, []):
            arrived = self._arrival.pop(wire, -1)
            if wire == keep:
                if arrived < self._last_arrival:
                    self.reordered += 1  # a later message had arrived before this one
                self._last_arrival = max(self._last_arrival, arrived)
            else:
                self.forged += 1  # conflicts with the authenticated chain

    def drain(self) -> list[Reading]:
        """Readings now readable in order; GapDetected if one is missing for too long."""
        out: list[Reading] = []
        while run := self._run():
            if self._signed(run[-1][0]):
                good = run
            else:  # a forgery in the run: find it message by message
                good = []
                for wire, h in run:
                    if not self._signed(wire):
                        self._buffer[h.seq].remove((wire, h))
                        self._arrival.pop(wire, None)
                        self.forged += 1
                        break
                    good.append((wire, h))
            for wire, h in good:
                self._discard(h.seq, wire)
                try:
                    out.append(self.reader.accept(wire, h))
                except ForgedMessage:  # signed but undecryptable: never from an honest device
                    self.forged += 1
                    return out
        if self._waiting_for_missing():
            now = time.monotonic()
            if self._waiting_since is None:
                self._waiting_since = now
            elif now - self._waiting_since > self.gap_timeout:
                if self._rewind():
                    self._waiting_since = None
                    return out
                raise GapDetected(self.reader.next_seq, min(s for s in self._buffer if s > self.reader.next_seq))
        else:
            self._waiting_since = None
            if self.reader.next_seq == self.root.seq and time.monotonic() - self._started > self.gap_timeout:
                self._rewind()  # nothing of the span yet: the hint may be another node's cursor
        return out

    def _rewind(self) -> bool:
        """Read the channel again from the ledger's start, once; False if already done."""
        if self.rewound:
            return False
        self.rewound = True
        self.cursor = 0
        return True

    def _waiting_for_missing(self) -> bool:
        """Is an authentic later message buffered while the next one is missing? (Unsigned
        candidates are dropped here, so a forged "future" message cannot fake a gap.)"""
        for seq in sorted(s for s in self._buffer if s > self.reader.next_seq):
            for cand in list(self._buffer[seq]):
                if self._signed(cand[0]):
                    return True  # one authentic later message is enough
                self._buffer[seq].remove(cand)
                self._arrival.pop(cand[0], None)
                self.forged += 1
            if not self._buffer[seq]:
                del self._buffer[seq]
        return False

    def poll(self) -> list[Reading]:
        msgs, self.cursor = self.ledger.read(self.root.channel, self.cursor)
        for m in msgs:
            self.offer(m.data)
        return self.drain()

    def follow(self, timeout: float | None = None, interval: float = 0.05) -> Iterator[Reading]:
        """Yield readings until the span is over (or ``timeout`` seconds pass without finishing)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.done:
            got = self.poll()
            yield from got
            if self.done or (deadline is not None and time.monotonic() > deadline):
                return
            if not got:
                time.sleep(interval)
