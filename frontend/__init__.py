"""Thingbid frontend: the data scientist's Flask app (application factory + blueprints).

``create_app(config)`` takes a mapping of Flask settings plus:

- ``THINGBID_SERVICES``: a ready ``frontend.services.Services`` (tests and ``thingbid up`` build one), or
- ``RPC_URL``, ``DEPLOYMENTS_DIR``, ``DATABASE_URL``, ``TANGLE_URL``, ``KEYSTORE_DIR``: built lazily
  from ``exchange.config.load_settings()`` when absent.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta

from flask import Flask, current_app, jsonify, redirect, render_template, request, url_for
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from exchange.market import format_bps, format_duration
from exchange.ratelimit import RateLimiter
from frontend.device_data import DeviceNetworkPolicy
from frontend.errors import FormError, FrontendError, NotFound, ServiceUnavailable
from frontend.forms import Kept, format_eth, format_number
from frontend.security import (
    CsrfError,
    KeyVault,
    check_csrf,
    csrf_token,
    current_user,
    set_security_headers,
)
from frontend.text import countdown, neutralise_bidi, neutralise_tree, shorten
from frontend.wallet_auth import DbNonceStore, KeystoreModeRefused

__all__ = ["create_app"]

DEFAULTS = {
    "MAX_CONTENT_LENGTH": 256 * 1024,  # forms and keystore uploads only
    "MAX_FORM_MEMORY_SIZE": 256 * 1024,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Strict",
    "SESSION_COOKIE_NAME": "thingbid_session",
    "PERMANENT_SESSION_LIFETIME": timedelta(hours=8),
    "LOGIN_FAILURES_PER_WINDOW": 5,  # per client address, and per (user, client)
    "LOGIN_FAILURES_PER_USER_WINDOW": 50,  # per user over all clients
    "LOGIN_WINDOW_S": 60.0,
    "ACCOUNT_CREATIONS_PER_WINDOW": 20,
    "RATE_LIMIT_MAX_KEYS": 10_000,  # per throttle: bounded memory whatever names and addresses are tried
    "SESSION_IDLE_S": 3600.0,
    "TEMPLATES_AUTO_RELOAD": False,
    # Networks besides the public internet the data viewer may fetch device data from (CIDRs);
    # ``thingbid up`` adds loopback for its simulated devices.
    "DEVICE_NETWORKS": (),
    # Where the public reaches this frontend (scheme://host[:port]); Sign-In with Ethereum checks the
    # message's domain and URI against it. A public frontend must set it (THINGBID_PUBLIC_URL).
    "PUBLIC_URL": os.environ.get("THINGBID_PUBLIC_URL", "") or None,
    # The address the server is bound to, when known (serve.py, thingbid up): the local keystore
    # mode is offered only on loopback.
    "BIND_HOST": None,
    # Behind TLS set THINGBID_SECURE_COOKIES=1 (or SESSION_COOKIE_SECURE) so the session never travels in clear.
    "SESSION_COOKIE_SECURE": os.environ.get("THINGBID_SECURE_COOKIES", "") not in ("", "0"),
}


# APIs (the browser wallet's, Sign-In with Ethereum, the WoT directory): every answer JSON. By path:
# a request no rule matches (a POST to a GET route) has no blueprint.
JSON_PREFIXES = ("/wallet-tx/", "/siwe/", "/things", "/search/", "/.well-known/")


class BidiSafeJSONProvider(DefaultJSONProvider):
    """JSON answers (charts' property names and units, job outcomes) without bidi controls."""

    def dumps(self, obj, **kwargs):
        return super().dumps(neutralise_tree(obj), **kwargs)


def device_names(device_ids) -> dict[str, str]:
    """Catalog titles of these devices, by lower-case 0x id (a template helper: pages name devices)."""
    from frontend.catalog_adapter import titles_of

    return titles_of(current_app.extensions["thingbid.services"].catalog(), device_ids)


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.json = BidiSafeJSONProvider(app)
    app.config.update(DEFAULTS)
    app.config["SECRET_KEY"] = os.urandom(32)
    if config:
        app.config.update(config)
    app.jinja_env.autoescape = True  # every template, whatever its extension
    # Every {{ expression }} of every page passes here: bidi controls from TD text (or anything else
    # a page shows) are dropped once, whichever page, field or source. Cleaning the catalog instead
    # would miss text that comes by other roads (tangle offers, job records) and alter the stored TD,
    # whose hash the chain holds.
    app.jinja_env.finalize = neutralise_bidi

    from frontend.blueprints.bids import PlanStore
    from frontend.jobs import JobRunner
    from frontend.services import Services
    from frontend.stream_ops import StreamManager
    from frontend.wallet_tx import PendingStore, RunStore

    services = app.config.get("THINGBID_SERVICES") or Services.from_settings(app.config)
    app.extensions["thingbid.services"] = services
    # Sessions, sign-in nonces, plans and jobs live in the database beside the catalog (frontend.webstate):
    # every worker of the app answers every request. Workers share SECRET_KEY (serve.py reads it).
    from frontend.blueprints.account import restore_user

    state_db = services.catalog().engine
    app.extensions["thingbid.vault"] = KeyVault(app.config["SESSION_IDLE_S"], engine=state_db,
                                                restore=restore_user(services))
    # Failures per client (and per user, per user and client) and account creations per client:
    # each limit at once, then refilled over LOGIN_WINDOW_S; at most RATE_LIMIT_MAX_KEYS keys each.
    # These counters are per worker process, on purpose: a throttle is a bound, and with W workers an
    # attacker gets at most W x the limit (2 x in `thingbid up`), still a bounded guessing and scrypt
    # rate; keeping them in memory costs no database write per failed sign-in (the attacker's lever).
    window, max_keys = app.config["LOGIN_WINDOW_S"], app.config["RATE_LIMIT_MAX_KEYS"]
    app.extensions["thingbid.login_limiter"] = RateLimiter.per_window(app.config["LOGIN_FAILURES_PER_WINDOW"],
                                                                      window, max_keys=max_keys)
    app.extensions["thingbid.login_user_limiter"] = RateLimiter.per_window(
        app.config["LOGIN_FAILURES_PER_USER_WINDOW"], window, max_keys=max_keys)
    # Every account creation costs a scrypt run: bound them per client address.
    app.extensions["thingbid.create_limiter"] = RateLimiter.per_window(app.config["ACCOUNT_CREATIONS_PER_WINDOW"],
                                                                       window, max_keys=max_keys)
    app.extensions["thingbid.device_networks"] = DeviceNetworkPolicy(app.config["DEVICE_NETWORKS"])
    app.extensions["thingbid.siwe_nonces"] = DbNonceStore(state_db)
    app.extensions["thingbid.jobs"] = JobRunner(state_db)
    # Wallet runs and the transactions prepared for a wallet: in the database too (frontend.wallet_tx).
    app.extensions["thingbid.wallet_pending"] = PendingStore(state_db)
    app.extensions["thingbid.wallet_runs"] = RunStore(state_db, app.extensions["thingbid.jobs"])
    app.extensions["thingbid.plans"] = PlanStore(state_db)
    app.extensions["thingbid.streams"] = StreamManager()

    from frontend.blueprints import (
        account,
        auctions,
        bids,
        catalog,
        directory,
        keys,
        siwe,
        streams,
        wallet,
        wallet_tx,
    )

    for bp in (account.bp, siwe.bp, wallet_tx.bp, catalog.bp, bids.bp, auctions.bp, keys.bp, wallet.bp, streams.bp,
               directory.bp):
        app.register_blueprint(bp)

    app.before_request(check_csrf)
    app.after_request(set_security_headers)

    @app.context_processor
    def inject():
        # ``kept``: a failed POST form's typed values; pages that re-render one pass their own.
        return {"csrf_token": csrf_token, "current_user": current_user(), "eth": format_eth, "kept": Kept()}

    app.add_template_filter(format_eth, "eth")
    app.add_template_filter(format_number, "num")
    app.add_template_filter(format_duration, "duration")
    app.add_template_filter(format_bps, "pct")
    app.add_template_filter(shorten, "short")
    app.add_template_global(device_names, "device_names")
    app.add_template_global(countdown, "countdown")
    app.add_template_filter(lambda t: time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(int(t or 0))), "utc")

    def wants_json() -> bool:
        best = request.accept_mimetypes.best_match(["application/json", "text/html"])
        # The browser wallet's API answers JSON whatever a client sent (a form-encoded POST got HTML).
        return (request.path.endswith(".json") or "/api/" in request.path or request.is_json
                or request.path.startswith(JSON_PREFIXES) or best == "application/json")

    def error_page(status: int, message: str):
        if wants_json():
            return jsonify({"error": message}), status
        return render_template("error.html", status=status, message=message), status

    @app.errorhandler(CsrfError)
    def on_csrf(exc):
        return error_page(400, str(exc))

    @app.errorhandler(FormError)
    def on_form(exc):
        return error_page(400, str(exc))

    @app.errorhandler(NotFound)
    def on_missing(exc):
        return error_page(404, str(exc))

    @app.errorhandler(ServiceUnavailable)
    def on_unavailable(exc):
        return error_page(503, str(exc))

    @app.errorhandler(KeystoreModeRefused)
    def on_keystore_refused(exc):
        return error_page(403, str(exc))

    @app.errorhandler(FrontendError)
    def on_frontend(exc):
        return error_page(400, str(exc))

    @app.errorhandler(RequestEntityTooLarge)
    def on_too_large(exc):
        return error_page(413, "request too large")

    @app.errorhandler(HTTPException)
    def on_http(exc):
        if exc.code == 401:
            if wants_json():
                return jsonify({"error": "sign in first"}), 401
            return redirect(url_for("account.signin", next=request.path))
        return error_page(exc.code or 500, exc.description or exc.name)

    @app.route("/vendor/chart.umd.js")
    def chartjs():
        # Chart.js from npm (node_modules), served same-origin so the CSP can stay 'self'.
        from flask import send_from_directory

        from exchange.config import REPO_ROOT

        return send_from_directory(REPO_ROOT / "node_modules" / "chart.js" / "dist", "chart.umd.js",
                                   mimetype="text/javascript", max_age=3600)

    @app.route("/favicon.ico")
    def favicon():
        return redirect(url_for("static", filename="favicon.svg"))

    @app.route("/")
    def index():
        # Keep the query string: a shared link to / with filters must land on the same search.
        target = url_for("catalog.search")
        query = request.query_string.decode("ascii", "replace")
        return redirect(f"{target}?{query}" if query else target)

    return app
