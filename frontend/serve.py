"""``python -m frontend.serve``: run the web app on a threaded werkzeug server.

Settings come from ``exchange.config`` (THINGBID_RPC_URL, THINGBID_DEPLOYMENTS_DIR,
THINGBID_DATABASE_URL, THINGBID_TANGLE_URL, THINGBID_STATE_DIR; keystores live in
``<state_dir>/keystores``). ``--dev-faucet`` funds new accounts on local chains only;
``--device-network 127.0.0.0/8`` lets the data viewer read devices on loopback (public
addresses only otherwise).
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    from werkzeug.serving import make_server

    from frontend import create_app

    p = argparse.ArgumentParser(prog="python -m frontend.serve", description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--dev-faucet", action="store_true", help="give new accounts test ether (local chains only)")
    p.add_argument("--device-network", action="append", default=[], metavar="CIDR",
                   help="also let the data viewer fetch from this network (public addresses always)")
    args = p.parse_args(argv)
    app = create_app({"DEV_FAUCET": args.dev_faucet, "DEVICE_NETWORKS": args.device_network})
    srv = make_server(args.host, args.port, app, threaded=True)
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
