"""``python -m frontend.serve``: run the web app under gunicorn with several worker processes.

``--workers N`` (default 2) prefork workers, each with threads (gunicorn's gthread worker): the app
keeps no state of its own in memory (sessions, nonces, plans and jobs are rows of the database,
frontend.webstate; auctions are catalog tables the indexer fills), so any worker answers any
request and N processes use N cores. gunicorn rather than waitress: waitress is one process with
threads, which would neither use the second core nor prove that nothing lives in one process.
The workers share the session-signing key, read from ``<state_dir>/web-secret.key`` (created once,
mode 0600) or $THINGBID_SECRET_KEY. ``--workers 1`` runs the threaded werkzeug server instead (one
process; its protocol errors are answered as JSON 4xx, exchange.border).

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


def serve_workers(config: dict, host: str, port: int, workers: int, threads: int = 8, access_log: str | None = None):
    """gunicorn with ``workers`` processes of ``threads`` threads, each building the app from ``config``
    after the fork (no connection is shared across processes). Blocks until stopped."""
    from gunicorn.app.base import BaseApplication

    from frontend import create_app

    class App(BaseApplication):
        def load_config(self):
            opts = {"bind": f"{host}:{port}", "workers": workers, "worker_class": "gthread", "threads": threads,
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
