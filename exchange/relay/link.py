"""The agent's side of a relay: dial out, prove the registered key, hand each request to a handler.

A device behind a home router cannot accept connections, so it keeps a WebSocket open to each
relay it is configured with. Each request that arrives over it goes to ``handle(method, target,
headers, client, body) -> (status, headers, body)``, run in a thread pool: the device agent passes
its WoT app (``device_agent.relay_link``), so access checks run at the device on every request.
The connection is re-dialled with jittered backoff (50 ms .. 1 s) whenever it drops; a relay that
refuses the hello (device not checked in yet) is retried the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import aiohttp

from exchange.relay.protocol import (
    CLOSE_REPLACED,
    MAX_ANSWER_BYTES,
    MAX_REQUEST_BODY,
    RelayProtocolError,
    backoff_delay,
    decode_frame,
    encode_frame,
    parse_request,
    sign_hello,
)

log = logging.getLogger(__name__)
HELLO_TIMEOUT_S = 10.0


def agent_socket_url(relay_url: str) -> str:
    """ws(s)://host/.../agent for a relay's http(s) base URL."""
    parts = urlsplit(relay_url.rstrip("/"))
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}{parts.path}/agent"


class RelayLink:
    """One agent's connection to one relay (runs as a coroutine on a ``RelayConnector``'s loop)."""

    def __init__(self, relay_url: str, device_id: bytes, ed25519_private: bytes,
                 handle: Callable[[str, str, list, str, bytes], tuple[int, list, bytes]],
                 pool: ThreadPoolExecutor, rng: random.Random | None = None):
        self.relay_url, self.device_id = relay_url.rstrip("/"), device_id
        self._key, self._handle, self._pool = ed25519_private, handle, pool
        self._rng = rng or random.Random()
        self.connected = threading.Event()
        self.connects = 0  # successful hellos so far (tests, benches)
        self.connected_at = 0.0  # time.monotonic() of the latest successful hello
        self.last_refusal = ""
        self.replaced = False  # another connection with this device's key took over: stop dialling

    async def run(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        attempt = 0
        while not stop.is_set():
            try:
                async with session.ws_connect(agent_socket_url(self.relay_url), heartbeat=20,
                                              max_msg_size=MAX_REQUEST_BODY + 64 * 1024) as ws:
                    await self._hello(ws)
                    attempt = 0
                    self.connects += 1
                    self.connected_at = time.monotonic()
                    self.connected.set()
                    await self._serve(ws, stop)
            except (aiohttp.ClientError, OSError, TimeoutError, RelayProtocolError, ValueError, KeyError) as exc:
                self.last_refusal = f"{type(exc).__name__}: {exc}"
                log.debug("relay %s: %s", self.relay_url, self.last_refusal)
            finally:
                self.connected.clear()
            if stop.is_set() or self.replaced:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff_delay(attempt, self._rng.random()))
            attempt += 1

    async def _hello(self, ws) -> None:
        challenge = await ws.receive_json(timeout=HELLO_TIMEOUT_S)
        if challenge.get("t") != "challenge":
            raise RelayProtocolError("the relay sent no challenge")
        nonce = bytes.fromhex(challenge["nonce"])
        sig = sign_hello(self._key, challenge["relay"], nonce, self.device_id)
        await ws.send_json({"t": "hello", "device": self.device_id.hex(), "sig": sig.hex()})
        msg = await ws.receive(timeout=HELLO_TIMEOUT_S)
        if msg.type != aiohttp.WSMsgType.TEXT or json.loads(msg.data).get("t") != "welcome":
            raise RelayProtocolError(f"the relay refused the hello: {ws.close_code} {msg.extra or ''}".strip())

    async def _serve(self, ws, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task] = set()
        stopper = asyncio.ensure_future(stop.wait())
        try:
            while True:
                receiving = asyncio.ensure_future(ws.receive())
                done, _ = await asyncio.wait({receiving, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if stopper in done:
                    receiving.cancel()
                    await ws.close()
                    return
                msg = receiving.result()
                if msg.type != aiohttp.WSMsgType.BINARY:
                    if ws.close_code == CLOSE_REPLACED:
                        self.replaced = True
                        log.error("relay %s: another agent connected with this device's key (%s); this one stops",
                                  self.relay_url, self.device_id.hex()[:12])
                    return  # closed (or a frame type the protocol never sends)
                task = asyncio.ensure_future(self._answer(ws, loop, msg.data))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        finally:
            stopper.cancel()
            for t in tasks:
                t.cancel()

    async def _answer(self, ws, loop, data: bytes) -> None:
        try:
            rid, method, target, headers, client = parse_request(decode_frame(data))
        except RelayProtocolError as exc:
            log.warning("relay %s sent a malformed request frame: %s", self.relay_url, exc)
            return
        body = decode_frame(data).body
        status, out_headers, payload = await loop.run_in_executor(self._pool, self._handle, method, target, headers,
                                                                  client, body)
        if len(payload) > MAX_ANSWER_BYTES - 64 * 1024:
            status, out_headers = 502, [("Content-Type", "application/json")]
            payload = json.dumps({"error": "answer_too_large", "detail": "the answer exceeds the relay's limit"}).encode()
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_bytes(encode_frame({"t": "res", "id": rid, "s": status, "h": [list(h) for h in out_headers]},
                                             payload))


class RelayConnector:
    """Runs relay links on one event loop in a background thread (one agent, or many in a bench)."""

    def __init__(self, workers: int = 8):
        self.loop = asyncio.new_event_loop()
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="relay-serve")
        self.links: list[RelayLink] = []
        self._thread = threading.Thread(target=self.loop.run_forever, name="relay-links", daemon=True)
        self._stop: asyncio.Event | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Future] = []

    def start(self) -> RelayConnector:
        self._thread.start()

        async def setup():
            self._stop = asyncio.Event()
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

        asyncio.run_coroutine_threadsafe(setup(), self.loop).result(10)
        return self

    def add(self, relay_url: str, device_id: bytes, ed25519_private: bytes, handle) -> RelayLink:
        link = RelayLink(relay_url, device_id, ed25519_private, handle, self.pool)
        self.links.append(link)
        self._tasks.append(asyncio.run_coroutine_threadsafe(link.run(self._session, self._stop), self.loop))
        return link

    def stop(self) -> None:
        if self._stop is None:
            return

        async def teardown():
            self._stop.set()
            await asyncio.gather(*(asyncio.wrap_future(t) for t in self._tasks), return_exceptions=True)
            await self._session.close()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(teardown(), self.loop).result(15)
        self._stop = None
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()
        self.pool.shutdown(wait=False, cancel_futures=True)
