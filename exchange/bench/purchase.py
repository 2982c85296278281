"""``thingbid bench purchase``: stream micro-purchase latency and channel read throughput, on loopback.

Starts a tangle node in this process (or eth-tester with ``--ledger ethereum``), a device
``StreamSeller`` polling in a thread, and a buyer. ``payment_to_key_p50_ms``: median time from
the buyer sending its payment to holding the decrypted channel root (includes waiting for
the payment's confirmation, the seller's poll, its answer and the buyer's poll).
``messages_per_s``: a bought span of ``--messages`` published messages is read from the
ledger (fetch, hash links, one signature per contiguous run, decryption) by a ``ChannelFollower``;
``strict_reader_messages_per_s`` is the same span in memory with a signature check per message
(what a live reader, getting one message at a time, pays).
"""

from __future__ import annotations

NAME = "purchase"
HELP = "stream purchase: payment-to-key p50 (ms) and channel read messages/s on loopback"


def add_arguments(parser) -> None:
    parser.add_argument("--ledger", choices=["tangle", "ethereum"], default="tangle")
    parser.add_argument("--purchases", type=int, default=9, help="purchases timed for the p50")
    parser.add_argument("--messages", type=int, default=2000, help="messages in the span read back")
    parser.add_argument("--poll-ms", type=float, default=10.0, help="seller poll interval")


def run(args):
    import contextlib
    import statistics
    import tempfile
    import threading
    import time

    from exchange.crypto.tokens import generate_ed25519
    from exchange.ledger import wait_confirmed
    from exchange.ledger.testing import ledger_env
    from exchange.streams import StreamBuyer, StreamSeller
    from exchange.streams.channel import ChannelReader
    from exchange.streams.testing import device_id, registered

    device = device_id("bench-purchase")
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as tmp, \
            ledger_env(args.ledger, tmp, fund=10**9) as env:
        sk, _ = generate_ed25519()
        seller = StreamSeller(env.make(), device, sk)
        seller.add_stream("bench", 1, max_span=10**6)
        wait_confirmed(seller.ledger, seller.advertise()[-1])
        records = stack.enter_context(registered(env, device, seller.ledger))
        buyer = StreamBuyer(env.alice, registry=records)
        stop = threading.Event()
        thread = None
        if args.ledger == "tangle":  # eth-tester is not thread-safe: the buyer's wait drives the seller
            thread = threading.Thread(target=seller.run, args=(stop, args.poll_ms / 1000), daemon=True)
            thread.start()
        else:
            _drive_inline(buyer, seller)
        try:
            latencies = [buyer.buy(device, 5, timeout=30).seconds * 1000 for _ in range(args.purchases)]
            p = buyer.buy(device, args.messages, timeout=30)
        finally:
            stop.set()
            if thread:
                thread.join(5)
        t = time.perf_counter()
        for i in range(args.messages):
            ref = seller.publish("bench", {"i": i, "celsius": 21.5, "humidity": 40.1})
        wait_confirmed(seller.ledger, ref, timeout=60)
        publish_s = time.perf_counter() - t
        follower = buyer.follower(p)
        t = time.perf_counter()
        n = sum(1 for _ in follower.follow(timeout=120, interval=0.001))
        read_s = time.perf_counter() - t
        # the same span in memory through the strict reader (one signature check per message)
        wires = [m.data for m in buyer.ledger.read(p.root.channel, p.root.since)[0]]
        reader = ChannelReader(p.root)
        t = time.perf_counter()
        for w in wires[: args.messages]:
            reader.accept(w)
        crypto_s = time.perf_counter() - t
        yield {"ledger": args.ledger,
               "payment_to_key_p50_ms": round(statistics.median(latencies), 1),
               "payment_to_key_max_ms": round(max(latencies), 1),
               "messages_per_s": round(n / read_s, 1),
               "messages_read": n,
               "strict_reader_messages_per_s": round(len(wires[: args.messages]) / crypto_s, 1),
               "publish_messages_per_s": round(args.messages / publish_s, 1),
               "purchases": args.purchases}


def _drive_inline(buyer, seller) -> None:
    """Let the buyer's answer polling also run the seller's poll (single-threaded ledgers)."""
    read = buyer.ledger.read

    def read_and_serve(tag, since=0):
        if tag.startswith("sale/"):
            seller.poll()
        return read(tag, since)

    buyer.ledger.read = read_and_serve
