"""The device agent's relay connections: its WoT app answers requests that arrive over them.

``exchange.relay.link`` dials the relays and proves the device's registered key; ``call_wsgi`` hands
each forwarded request to the same WSGI app that serves direct requests (``device_agent.server``),
so access checks stay at the device, on every request.
"""

from __future__ import annotations

from werkzeug.test import EnvironBuilder, run_wsgi_app

from exchange.relay.link import RelayConnector, RelayLink

__all__ = ["RelayConnector", "RelayLink", "call_wsgi"]


def call_wsgi(app, method: str, target: str, headers: list[tuple[str, str]], client: str, body: bytes):
    """(status, headers, body) of ``app``'s answer to one forwarded request."""
    path, _, query = target.partition("?")
    builder = EnvironBuilder(path=path, query_string=query, method=method, headers=headers, data=body or None,
                             environ_base={"REMOTE_ADDR": client or "0.0.0.0", "REQUEST_URI": target,
                                           "RAW_URI": target})
    try:
        environ = builder.get_environ()
    finally:
        builder.close()
    app_iter, status, out_headers = run_wsgi_app(app, environ, buffered=True)
    try:
        payload = b"".join(app_iter)
    finally:
        close = getattr(app_iter, "close", None)
        if close:
            close()
    return int(status.split(" ", 1)[0]), list(out_headers.items()), payload
