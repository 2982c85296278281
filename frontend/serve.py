"""``python -m frontend.serve``: run the web app under gunicorn with several worker processes.

``--workers N`` (default 2) prefork workers, each with threads (gunicorn's gthread worker): the app
keeps no state of its own in memory (sessions, nonces, plans and jobs are rows of the database,
frontend.webstate; auctions are catalog tables the indexer fills), so any worker answers any
request and N processes use N cores. gunicorn rather than waitress: waitress is one process with
threads, which would neither use the second core nor prove that nothing lives in one process.
The workers share the session-signing key, read from ``<state_dir>/web-secret.key`` (created once,
mode 0600) or $THINGBID_SECRET_KEY. ``--workers 1`` runs the threaded werkzeug server instead (one
process). Either way protocol errors are answered as JSON 4xx (exchange.border; a gunicorn worker
class here).

Settings come from ``exchange.config`` (THINGBID_RPC_URL, THINGBID_DEPLOYMENTS_DIR,
THINGBID_DATABASE_URL, THINGBID_TANGLE_URL, THINGBID_STATE_DIR; keystores live in
``<state_dir>/keystores``). ``--dev-faucet`` funds new accounts on local chains only;
``--device-network 127.0.0.0/8`` lets the data viewer read devices on loopback (public
addresses only otherwise). ``--public-url https://bids.example.com`` names where the public reaches
it (Sign-In with Ethereum checks messages against it; needed for any non-loopback --host). The local
keystore mode (keys unlocked on this server) is offered only with a loopback --host.
"""

from __future__ import annotations

import argparse
import os
import sys


def make_web_server(app, host: str, port: int):
    """The threaded werkzeug server for ``app`` (not started); protocol errors (bad request line,
    unknown HTTP version, oversized headers) are answered as JSON 4xx like every server's."""
    from werkzeug.serving import make_server

    from exchange.border import JsonErrorHandler

    return make_server(host, port, app, threaded=True, request_handler=JsonErrorHandler)


def secret_key(state_dir) -> bytes:
    """The workers' shared session-signing key: $THINGBID_SECRET_KEY, else ``<state_dir>/web-secret.key``
    (64 random bytes, written once with mode 0600)."""
    import secrets
    from pathlib import Path

    env = os.environ.get("THINGBID_SECRET_KEY")
    if env:
        return env.encode()
    path = Path(state_dir) / "web-secret.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as f:
        f.write(secrets.token_bytes(64))
    return path.read_bytes()


def _json_error_worker():
    """gunicorn's threaded worker answering protocol errors as a JSON 4xx (gunicorn writes an HTML
    page, and a 501 for a Transfer-Encoding it does not take: a 5xx for what the client sent). A
    fault of the server itself stays a 500, in JSON too, logged with its traceback."""
    from gunicorn import http
    from gunicorn.workers.gthread import ThreadWorker

    statuses = {http.errors.LimitRequestLine: (414, "URI Too Long"),
                http.errors.LimitRequestHeaders: (431, "Request Header Fields Too Large"),
                http.errors.ExpectationFailed: (417, "Expectation Failed"),
                http.errors.ForbiddenProxyRequest: (403, "Forbidden")}
    client_errors = tuple(getattr(http.errors, name) for name in (
        "InvalidRequestLine", "InvalidRequestMethod", "InvalidHTTPVersion", "InvalidHeader", "InvalidHeaderName",
        "LimitRequestLine", "LimitRequestHeaders", "InvalidProxyLine", "ForbiddenProxyRequest",
        "InvalidSchemeHeaders", "UnsupportedTransferCoding", "ObsoleteFolding", "ExpectationFailed",
        "InvalidChunkSize", "ChunkMissingTerminator", "InvalidChunkExtension", "NoMoreData")
        if hasattr(http.errors, name))

    body_errors = tuple(getattr(http.errors, name) for name in (
        "InvalidChunkSize", "ChunkMissingTerminator", "InvalidChunkExtension", "NoMoreData")
        if hasattr(http.errors, name))

    class JsonErrorWorker(ThreadWorker):
        def handle_error(self, req, client, addr, exc):
            import json

            from gunicorn import util

            if req is not None and isinstance(exc, body_errors):
                # A body the app never read, found broken while gunicorn drained it after the app's
                # answer had gone out: a second answer would follow the first on the same
                # connection. The connection is closed instead.
                self.log.warning("Invalid request body from %s after the answer: %s", (addr or ("",))[0], exc)
                util.close(client)
                return
            if isinstance(exc, client_errors):
                status, reason = statuses.get(type(exc), (400, "Bad Request"))
                message = f"malformed request: {type(exc).__name__}: {exc}"[:300]
                self.log.warning("Invalid request from %s: %s", (addr or ("",))[0], exc)
            else:
                status, reason, message = 500, "Internal Server Error", "internal error"
                self.log.exception("Error handling request")
            body = json.dumps({"error": message}).encode()
            head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
            try:
                util.write_nonblock(client, head + body)
            except Exception:  # noqa: BLE001 - the client is gone; nothing more to tell it
                self.log.debug("failed to send the error answer")

    return JsonErrorWorker


def serve_workers(config: dict, host: str, port: int, workers: int, threads: int = 8, access_log: str | None = None):
    """gunicorn with ``workers`` processes of ``threads`` threads, each building the app from ``config``
    after the fork (no connection is shared across processes). Blocks until stopped."""
    from gunicorn.app.base import BaseApplication

    from frontend import create_app

    class App(BaseApplication):
        def load_config(self):
            opts = {"bind": f"{host}:{port}", "workers": workers, "worker_class": _json_error_worker(), "threads": threads,
                    "timeout": 120, "graceful_timeout": 10, "keepalive": 5, "proc_name": "thingbid-web",
                    # The app refuses what is too large itself (MAX_CONTENT_LENGTH); these bound the request line
                    # and headers as werkzeug's server did.
                    "limit_request_line": 8190, "limit_request_fields": 100, "limit_request_field_size": 8190}
            if access_log:
                opts.update(accesslog=access_log, access_log_format='%(p)s "%(r)s" %(s)s')
            for k, v in opts.items():
                self.cfg.set(k, v)

        def load(self):
            return create_app(dict(config))

    App().run()


def main(argv: list[str] | None = None) -> int:
    from frontend import create_app

    p = argparse.ArgumentParser(prog="python -m frontend.serve", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--dev-faucet", action="store_true", help="give new accounts test ether (local chains only)")
    p.add_argument("--device-network", action="append", default=[], metavar="CIDR",
                   help="also let the data viewer fetch from this network (public addresses always)")
    p.add_argument("--public-url", default=None, metavar="URL",
                   help="scheme://host[:port] the public uses (required unless --host is loopback)")
    p.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (1: one werkzeug process)")
    p.add_argument("--threads", type=int, default=8, help="threads per worker")
    p.add_argument("--access-log", default=None, metavar="FILE", help="gunicorn's access log (worker pid per line)")
    args = p.parse_args(argv)
    if args.workers < 1 or args.threads < 1:
        print("serve: --workers and --threads must be at least 1", file=sys.stderr)
        return 2
    from frontend.wallet_auth import is_loopback_host

    if not is_loopback_host(args.host) and not (args.public_url or os.environ.get("THINGBID_PUBLIC_URL")):
        print(f"serve: --host {args.host} is reachable from other machines: give --public-url (the address"
              " the public uses, checked by Sign-In with Ethereum); see docs/operations.md", file=sys.stderr)
        return 2
    config = {"DEV_FAUCET": args.dev_faucet, "DEVICE_NETWORKS": args.device_network, "BIND_HOST": args.host}
    if args.public_url:
        config["PUBLIC_URL"] = args.public_url
    from exchange.config import load_settings

    config["SECRET_KEY"] = secret_key(load_settings().state_dir)
    if args.workers > 1:
        # The tables are created once here, before the workers start (two creating them at once could collide).
        from exchange.catalog import Catalog
        from frontend.services import Services
        from frontend.webstate import create_web_tables

        catalog = Catalog(Services.from_settings(config).database_url)
        create_web_tables(catalog.engine)
        catalog.close()
        print(f"web        http://{args.host}:{args.port} ({args.workers} workers)", flush=True)
        serve_workers(config, args.host, args.port, args.workers, args.threads, args.access_log)
        return 0
    app = create_app(config)
    srv = make_web_server(app, args.host, args.port)
    print(f"web        http://{args.host}:{srv.server_port}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
