"""``python -m frontend.serve``: run the web app on a threaded werkzeug server.

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
    args = p.parse_args(argv)
    from frontend.wallet_auth import is_loopback_host

    if not is_loopback_host(args.host) and not (args.public_url or os.environ.get("THINGBID_PUBLIC_URL")):
        print(f"serve: --host {args.host} is reachable from other machines: give --public-url (the address"
              " the public uses, checked by Sign-In with Ethereum); see docs/operations.md", file=sys.stderr)
        return 2
    config = {"DEV_FAUCET": args.dev_faucet, "DEVICE_NETWORKS": args.device_network, "BIND_HOST": args.host}
    if args.public_url:
        config["PUBLIC_URL"] = args.public_url
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
