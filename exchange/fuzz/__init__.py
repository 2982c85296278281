"""The fuzz suite's shared harness: hostile requests at every HTTP server of the project.

Hypothesis generates cases (a kind, a route, a seed, garbage bytes, a JSON value, a text); each
case becomes one request, or eight concurrent ones, sent over a raw socket (``wire``): valid
requests, mutated valid ones, garbage bodies and garbage on the wire, wrong JSON types, huge and
negative numbers (and number literals JSON parsers choke on), JSON nested 65..100,000 deep, bad
UTF-8 in bodies, paths and headers, NUL and control characters in fields and queries, bodies
over the server's limit (declared, chunked, or declared and never sent), oversized headers and
request lines, malformed chunked framing and Content-Length, bad request lines, and concurrent
repeats. For every request the harness asserts:

* an HTTP answer comes back (no dropped connection, no hang);
* its status is below 500, and a 4xx carries a JSON reason;
* a refused request leaves the server's state digest unchanged (digest before == after);
* a request from a route's valid builder is accepted (2xx).

The first broken rule raises ``FuzzFailure`` whose message carries the seed; replay with
``THINGBID_FUZZ_SEED=<seed> python -m pytest tests/fuzz -k <server>``.

How a server joins
------------------
1. Write a factory, a context manager ``factory(workdir: Path) -> Iterator[Target]`` that starts
   the real server on a free port (its own database under ``workdir``; no background thread that
   changes state on its own while fuzzed), yields a ``Target`` and stops the server::

       @contextlib.contextmanager
       def my_server(workdir):
           srv = start_it(workdir)
           routes = [
               Route("GET", "/api/things?limit=10", lambda rng: Req("GET", f"/api/things?limit={rng.randint(1, 50)}")),
               Route("POST", "/api/things", lambda rng: Req("POST", "/api/things",
                     (("Content-Type", "application/json"),), json.dumps({"name": f"t{rng.random()}"}).encode())),
               Route("DELETE", "/api/things/1"),  # no valid builder: only hostile variants of the path
           ]
           try:
               yield Target("my-server", "127.0.0.1", srv.port, routes, digest=lambda: srv.state_digest(),
                            max_body=srv.MAX_BODY, headers=(("Authorization", "Bearer ..."),))
           finally:
               srv.stop()

   ``Route.path`` is a concrete example path; ``valid(rng)`` builds, from the live state, a request
   the server must accept; mutations start from it. ``digest()`` must change whenever state the
   server keeps changes (row counts and sums, a hash of the rows, peers, balances ...). Override
   ``Target.reason`` when 4xx reasons are not ``{"error": ...}`` and ``Target.refused`` when refusals
   are not only 4xx (a JSON-RPC server answers 200 with an ``error`` member).
2. Register it in ``exchange.fuzz.targets.TARGETS``: ``"my-server": "package.module:my_server"``.
   ``tests/fuzz/test_fuzz.py`` then runs it (20,000 requests) and ``thingbid bench fuzz`` reports it.

Serving code gets the border rules from ``exchange.border`` (body read with a limit, strict JSON
with a depth bound, text without NUL, integers in their column's range, JSON protocol errors).
"""

from exchange.fuzz.harness import KINDS, FuzzFailure, Route, Stats, Target, run
from exchange.fuzz.wire import Req, Resp, send

__all__ = ["KINDS", "FuzzFailure", "Req", "Resp", "Route", "Stats", "Target", "run", "send"]
