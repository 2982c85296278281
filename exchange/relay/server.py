"""The relay service: agents' WebSockets in, buyers' HTTP requests forwarded over them.

Routes:
- ``GET /agent``: an agent's WebSocket (challenge, signed hello, then frames; see ``protocol``).
- ``ANY /devices/<pseudonym>[/...]``: forwarded to the device's connection; its answer comes back
  byte for byte (status, headers, body: the relay neither reads nor changes bodies).
- ``GET /v1/info``: the relay's id and how many devices are connected.

Refusals are JSON ``{"error", "detail"}``: 400 malformed (pseudonym, HTTP, a body cut short, a
transfer coding other than chunked), 408 a body that stalls, 404 ``unknown_device``
(the registry lists no active device of that id), 413 body too large, 431 headers too large, and
503 with ``Retry-After`` when the device is registered but not connected, too busy or too slow
(the one 5xx: the upstream is gone, not the client's fault).

Isolation: each connection has its own bounded send queue and writer task, a cap on requests in
flight and a deadline per request, so an agent that stops reading or answering only fails its
own requests; the event loop never waits on one agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from aiohttp import WSCloseCode, WSMsgType, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_runner import AppRunner
from aiohttp.web_server import Server

from exchange.relay.keys import KeySource
from exchange.relay.protocol import (
    CLOSE_BAD_HELLO,
    CLOSE_MALFORMED,
    CLOSE_REPLACED,
    CLOSE_UNREGISTERED,
    MAX_ANSWER_BYTES,
    MAX_HEADER_BYTES,
    MAX_REQUEST_BODY,
    RelayProtocolError,
    decode_frame,
    new_nonce,
    parse_answer,
    parse_pseudonym,
    request_frame,
    verify_hello,
)

log = logging.getLogger(__name__)
DEVICES_PREFIX = "/devices/"


def _error(status: int, reason: str, detail: str, retry_after: int | None = None) -> web.Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return web.json_response({"error": reason, "detail": detail}, status=status, headers=headers)


@dataclass
class RelayLimits:
    request_timeout_s: float = 30.0  # a long poll at the device waits up to 25 s
    hello_timeout_s: float = 5.0
    body_timeout_s: float = 10.0
    send_timeout_s: float = 5.0  # an agent that does not take a frame in this long is dropped
    max_in_flight: int = 64  # per connection
    retry_after_s: int = 2
    heartbeat_s: float = 20.0
    registry_poll_s: float = 2.0  # how often the registry's events are read (check-outs, changed keys)


class _LinkClosed(Exception):
    """The agent's connection ended while a request waited (answered 503)."""


@dataclass(eq=False)
class AgentLink:
    """One agent's connection: its queue of frames to send and its requests waiting for answers."""

    device_id: bytes
    ws: web.WebSocketResponse
    limits: RelayLimits
    key: bytes = b""  # the registered Ed25519 key its hello was signed with
    queue: asyncio.Queue = field(init=False)
    pending: dict = field(default_factory=dict)
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    closed: bool = False

    def __post_init__(self):
        self.queue = asyncio.Queue(maxsize=self.limits.max_in_flight)

    async def writer(self) -> None:
        try:
            while True:
                frame = await self.queue.get()
                await asyncio.wait_for(self.ws.send_bytes(frame), self.limits.send_timeout_s)
        except (TimeoutError, ConnectionError, RuntimeError) as exc:
            log.info("relay: dropping device %s: cannot send (%s)", self.device_id.hex()[:12], type(exc).__name__)
            await self.close(WSCloseCode.TRY_AGAIN_LATER, "not reading")

    async def forward(self, method: str, target: str, headers: list[tuple[str, str]], client: str, body: bytes):
        if self.closed:
            raise _LinkClosed()
        if len(self.pending) >= self.limits.max_in_flight:
            raise OverflowError()
        rid = next(self.ids)
        frame = request_frame(rid, method, target, headers, client, body)
        fut = asyncio.get_running_loop().create_future()
        self.pending[rid] = fut
        try:
            self.queue.put_nowait(frame)
            return await asyncio.wait_for(fut, self.limits.request_timeout_s)
        except asyncio.QueueFull:
            raise OverflowError() from None
        finally:
            self.pending.pop(rid, None)

    def deliver(self, data: bytes) -> None:
        answer = parse_answer(decode_frame(data))
        fut = self.pending.get(answer.request_id)
        if fut is not None and not fut.done():  # an answer after the deadline is dropped
            fut.set_result(answer)

    async def close(self, code: int = WSCloseCode.GOING_AWAY, reason: str = "") -> None:
        if not self.closed:
            self.closed = True
            for fut in self.pending.values():
                if not fut.done():
                    fut.set_exception(_LinkClosed())
            with contextlib.suppress(Exception):
                await self.ws.close(code=code, message=reason.encode()[:120])


class Relay:
    """The relay's state and handlers (``app()`` is the aiohttp application)."""

    def __init__(self, keys: KeySource, relay_id: str = "thingbid-relay", limits: RelayLimits | None = None,
                 lookup_threads: int = 4):
        self.keys, self.relay_id = keys, relay_id
        self.limits = limits or RelayLimits()
        self.links: dict[bytes, AgentLink] = {}
        self._watch: asyncio.Task | None = None
        self._lookups = ThreadPoolExecutor(max_workers=lookup_threads, thread_name_prefix="relay-keys")

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_REQUEST_BODY, middlewares=[self._json_errors])
        app.router.add_get("/agent", self.agent_socket)
        app.router.add_get("/v1/info", self.info)
        app.router.add_route("*", "/devices/{pseudonym}", self.device_request)
        app.router.add_route("*", "/devices/{pseudonym}/{tail:.*}", self.device_request)
        app.on_startup.append(self._start_watch)
        app.on_shutdown.append(self._close_all)
        return app

    async def _start_watch(self, _app=None) -> None:
        if callable(getattr(self.keys, "changes", None)):
            self._watch = asyncio.create_task(self._watch_registry())

    async def _watch_registry(self) -> None:
        """Drop a connection as soon as the registry no longer backs it: its device checked out,
        transferred or re-registered with another key (read from the registry's events, every
        ``registry_poll_s``), without waiting for the agent to reconnect or a cached key to expire."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                changed = await loop.run_in_executor(self._lookups, self.keys.changes)
            except Exception as exc:  # noqa: BLE001 - the chain's node is the upstream: try again next round
                log.warning("relay: reading the registry's events failed: %s", exc)
                changed = ()
            for device_id in changed:
                link = self.links.get(device_id)
                if link is None:
                    continue
                try:
                    key = await self._lookup(device_id)
                except Exception as exc:  # noqa: BLE001
                    log.warning("relay: registry lookup failed: %s", exc)
                    continue
                if key != link.key:
                    log.info("relay: device %s %s: connection dropped", device_id.hex()[:12],
                             "checked out" if key is None else "has another registered key")
                    if self.links.get(device_id) is link:
                        del self.links[device_id]
                    await link.close(CLOSE_UNREGISTERED if key is None else CLOSE_BAD_HELLO,
                                     "the registry no longer lists this device with this key")
            await asyncio.sleep(self.limits.registry_poll_s)

    async def _close_all(self, _app=None) -> None:
        if self._watch is not None:
            self._watch.cancel()
        for link in list(self.links.values()):
            await link.close(WSCloseCode.GOING_AWAY, "relay stopping")
        self._lookups.shutdown(wait=False, cancel_futures=True)

    @web.middleware
    async def _json_errors(self, request: web.Request, handler):
        try:
            return await handler(request)
        except web.HTTPException as exc:  # aiohttp's own 404/405/413 ... as JSON like every other refusal
            if exc.status < 400:
                raise
            reason = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status, "bad_request")
            refusal = _error(exc.status, reason, exc.text or exc.reason)
            # Nothing after a request aiohttp itself refused is trusted as the next request: a CONNECT's
            # body was parsed as one and got a second answer on the same connection.
            refusal.force_close()
            return refusal

    async def _lookup(self, device_id: bytes) -> bytes | None:
        return await asyncio.get_running_loop().run_in_executor(self._lookups, self.keys.lookup, device_id)

    # ------------------------------------------------------------------ buyers
    async def info(self, _request: web.Request) -> web.Response:
        return web.json_response({"relay": self.relay_id, "devices_connected": len(self.links)})

    async def device_request(self, request: web.Request) -> web.StreamResponse:
        try:
            device_id = parse_pseudonym(request.match_info["pseudonym"])
        except RelayProtocolError as exc:
            return _error(400, "bad_pseudonym", str(exc))
        link = self.links.get(device_id)
        if link is None:
            return await self._not_connected(device_id)
        coding = request.headers.get("Transfer-Encoding", "").strip().lower()
        if coding and coding != "chunked":  # aiohttp would inflate gzip/deflate itself: refuse what no device takes
            return _error(400, "bad_transfer_encoding", "only Transfer-Encoding: chunked is accepted")
        if request.content_length is not None and request.content_length > MAX_REQUEST_BODY:
            return _error(413, "too_large", f"request bodies are at most {MAX_REQUEST_BODY} bytes")
        try:
            # raises 413 past client_max_size (chunked bodies too); a client that stalls mid-body is cut off
            body = await asyncio.wait_for(request.read(), self.limits.body_timeout_s)
        except TimeoutError:
            return _error(408, "body_timeout", f"the request body did not arrive within {self.limits.body_timeout_s:g} s")
        except HttpProcessingError as exc:
            return _error(400, "bad_body", f"the request body is malformed: {exc.message}"[:200])
        if request.content_length is not None and len(body) != request.content_length:
            return _error(400, "bad_body", f"the request body ended after {len(body)} of {request.content_length} bytes")
        raw = request.raw_path
        target = raw[len(DEVICES_PREFIX) + 64:] or "/"
        if not target.startswith(("/", "?")):
            return _error(400, "bad_path", "the device path must follow the pseudonym after a /")
        if target.startswith("?"):
            target = "/" + target
        headers = list(request.headers.items())
        if sum(len(k) + len(v) + 6 for k, v in headers) + len(target) > MAX_HEADER_BYTES - 256:
            return _error(431, "headers_too_large", f"request line and headers are at most {MAX_HEADER_BYTES - 256} bytes")
        try:
            answer = await link.forward(request.method, target, headers, request.remote or "", body)
        except OverflowError:
            return _error(503, "device_busy", "the device has too many requests in flight; retry shortly",
                          retry_after=1)
        except (_LinkClosed, TimeoutError):
            return _error(503, "device_unavailable", "the device did not answer (disconnected or too slow)",
                          retry_after=self.limits.retry_after_s)
        return web.Response(status=answer.status, headers=answer.headers, body=answer.body)

    async def _not_connected(self, device_id: bytes) -> web.Response:
        try:
            key = await self._lookup(device_id)
        except Exception as exc:  # noqa: BLE001 - the registry's node is the upstream here
            log.warning("relay: registry lookup failed: %s", exc)
            return _error(503, "registry_unavailable", "the relay cannot read the registry right now",
                          retry_after=self.limits.retry_after_s)
        if key is None:
            return _error(404, "unknown_device", "the registry lists no active device with this pseudonym")
        return _error(503, "device_offline", "the device is registered but not connected to this relay",
                      retry_after=self.limits.retry_after_s)

    # ------------------------------------------------------------------ agents
    async def agent_socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_ANSWER_BYTES, heartbeat=self.limits.heartbeat_s)
        await ws.prepare(request)
        link = await self._hello(ws)
        if link is None:
            return ws
        old = self.links.get(link.device_id)
        self.links[link.device_id] = link
        if old is not None:  # the same key reconnected (the old link is half-dead): the new one wins
            await old.close(CLOSE_REPLACED, "replaced by a newer connection")
        writer = asyncio.create_task(link.writer())
        try:
            async for msg in ws:
                if msg.type != WSMsgType.BINARY:
                    await link.close(CLOSE_MALFORMED, "frames are binary")
                    break
                try:
                    link.deliver(msg.data)
                except RelayProtocolError as exc:
                    log.info("relay: device %s sent a bad frame (%s): dropped", link.device_id.hex()[:12], exc)
                    await link.close(CLOSE_MALFORMED, "malformed frame")
                    break
        finally:
            writer.cancel()
            await link.close()
            if self.links.get(link.device_id) is link:
                del self.links[link.device_id]
        return ws

    async def _hello(self, ws: web.WebSocketResponse) -> AgentLink | None:
        nonce = new_nonce()
        await ws.send_json({"t": "challenge", "relay": self.relay_id, "nonce": nonce.hex()})
        try:
            msg = await ws.receive(timeout=self.limits.hello_timeout_s)
            hello = json.loads(msg.data) if msg.type == WSMsgType.TEXT else None
            device_id = bytes.fromhex(hello["device"])
            signature = bytes.fromhex(hello["sig"])
            if hello.get("t") != "hello" or len(device_id) != 32:
                raise ValueError("not a hello")
        except TimeoutError:
            await ws.close(code=CLOSE_BAD_HELLO, message=b"no hello in time")
            return None
        except (ValueError, TypeError, KeyError):
            await ws.close(code=CLOSE_MALFORMED, message=b"malformed hello")
            return None
        try:
            key = await self._lookup(device_id)
        except Exception as exc:  # noqa: BLE001 - registry unreachable: the agent retries
            log.warning("relay: registry lookup failed during a hello: %s", exc)
            await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"registry unavailable")
            return None
        if key is None:
            await ws.close(code=CLOSE_UNREGISTERED, message=b"no active registry record for this device")
            return None
        try:
            verify_hello(key, self.relay_id, nonce, device_id, signature)
        except RelayProtocolError as exc:
            log.info("relay: refused a hello for %s: %s", device_id.hex()[:12], exc)
            await ws.close(code=CLOSE_BAD_HELLO, message=b"signature is not the registered key's")
            return None
        await ws.send_json({"t": "welcome", "device": device_id.hex()})
        return AgentLink(device_id, ws, self.limits, key)


class _JsonErrorHandler(RequestHandler):
    """aiohttp's protocol errors (bad request line, header too long, bad chunking) as JSON refusals.

    A client that half-closes after its request (shutdown(SHUT_WR), valid HTTP/1.1) still gets its
    answer, then the connection closes; one that stops mid-head or mid-body gets a 400 (aiohttp
    would drop the first unanswered and leave the second waiting for ever)."""

    _bytes_seen = False

    def data_received(self, data: bytes) -> None:
        self._bytes_seen = self._bytes_seen or bool(data)
        super().data_received(data)
        if self._messages:  # remembered: a request may be taken off the queue before its handler runs
            self._last_payload = self._messages[-1][1]

    def eof_received(self) -> bool | None:
        if self._request_count == 0 and self.transport is not None:  # no complete request head came
            if not self._bytes_seen:
                self.force_close()
                return None
            body = json.dumps({"error": "bad_request", "detail": "the request ended before its head did"}).encode()
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json; charset=utf-8\r\n"
                                 b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
            self.force_close()
            return None
        # A body cut short fails its read (answered 400) instead of waiting for bytes that cannot come.
        payloads = [p for _, p in self._messages] + [getattr(self, "_last_payload", None)]
        for payload in payloads:
            if isinstance(payload, StreamReader) and not payload.is_eof() and payload.exception() is None:
                payload.feed_eof()  # the handler compares what came with Content-Length
        if self._waiter is not None and not self._waiter.done() and not self._messages:
            self.force_close()  # idle between requests: nothing left to answer
            return None
        self.close()  # no further requests: close once the ones read are answered
        return True  # keep our side open for the answer

    def handle_error(self, request, status: int = 500, exc: BaseException | None = None, message: str | None = None):
        if request.writer.output_size > 0:
            raise ConnectionError("the answer was already being sent")
        log.debug("relay: refused a malformed request from %s: %s", request.remote, exc)
        status = status if 400 <= status < 500 else 400
        reason = {413: "too_large", 431: "headers_too_large"}.get(status, "bad_request")
        detail = str(getattr(exc, "message", "") or message or "malformed HTTP request")
        out = web.json_response({"error": reason, "detail": detail[:200]}, status=status)
        out.force_close()
        return out


class _JsonErrorServer(Server):
    def __call__(self) -> RequestHandler:
        return _JsonErrorHandler(self, loop=self._loop, **self._kwargs)


class _JsonErrorRunner(AppRunner):
    async def _make_server(self) -> Server:
        server = await super()._make_server()
        server.__class__ = _JsonErrorServer  # same state; only the protocol class it makes differs
        return server


async def start_site(relay: Relay, host: str, port: int, sock=None) -> tuple[AppRunner, int]:
    """Serve ``relay`` on host:port, or on ``sock`` (already bound and listening: ``thingbid relay``
    binds before its imports, so agents dialling during a restart wait in the backlog, not in backoff)."""
    # On stop, connections still open (a client that never finished its request) get 2 s, not 60.
    # Bodies are forwarded as they came: never inflated here (Content-Encoding is the device's business).
    runner = _JsonErrorRunner(relay.app(), handle_signals=False, access_log=None, shutdown_timeout=2.0,
                              auto_decompress=False)
    await runner.setup()
    # A relay restart is met by every agent within ~2 s: a short backlog would drop their SYNs (1 s, 3 s retries).
    if sock is not None:
        site = web.SockSite(runner, sock)
    else:
        site = web.TCPSite(runner, host, port, reuse_address=True, backlog=4096)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]
    return runner, bound


class RelayThread:
    """A relay serving on its own event loop in a background thread (tests, benches, one process)."""

    def __init__(self, relay: Relay, host: str = "127.0.0.1", port: int = 0):
        self.relay, self.host, self.port = relay, host, port
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="relay", daemon=True)
        self._runner: AppRunner | None = None
        self.url = ""

    def start(self) -> RelayThread:
        self._thread.start()
        self._runner, self.port = asyncio.run_coroutine_threadsafe(
            start_site(self.relay, self.host, self.port), self.loop).result(10)
        self.url = f"http://{self.host}:{self.port}"
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(30)
            self._runner = None
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    def __enter__(self) -> RelayThread:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
