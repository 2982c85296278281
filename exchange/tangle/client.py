"""HTTP client for a tangle node (the API in docs/tangle-api.md)."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request

from exchange.tangle.errors import TangleError, TangleRejected, TangleUnavailable
from exchange.waiting import poll_until


class TangleClient:
    def __init__(self, base_url: str, timeout: float = 10):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _call(self, method: str, path: str, body: dict | None = None, query: dict | None = None) -> dict:
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as exc:
            try:
                reason = json.loads(exc.read()).get("error", exc.reason)
            except ValueError:
                reason = str(exc.reason)
            if 400 <= exc.code < 500:
                raise TangleRejected(reason, exc.code) from None
            raise TangleError(f"tangle node {self.base_url}: HTTP {exc.code}: {reason}") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            # HTTPException: the node died mid-answer (IncompleteRead, RemoteDisconnected).
            raise TangleUnavailable(f"tangle node {self.base_url} unreachable: {exc!r}") from None
        except ValueError as exc:
            raise TangleError(f"tangle node {self.base_url} answered something that is not JSON") from exc

    def info(self) -> dict:
        return self._call("GET", "/v1/info")

    def submit(self, tx_bytes: bytes) -> str:
        return self._call("POST", "/v1/transactions", {"tx": bytes(tx_bytes).hex()})["id"]

    def submit_batch(self, txs: list[bytes]) -> list[dict]:
        return self._call("POST", "/v1/transactions/batch", {"txs": [t.hex() for t in txs]})["results"]

    def get(self, tx_id: str) -> dict:
        return self._call("GET", f"/v1/transactions/{tx_id}")

    def get_raw(self, tx_id: str) -> bytes:
        return bytes.fromhex(self._call("GET", f"/v1/transactions/{tx_id}/raw")["tx"])

    def tips(self) -> list[str]:
        return self._call("GET", "/v1/tips")["tips"]

    def balance(self, address: str) -> int:
        return self._call("GET", f"/v1/balances/{address}")["balance"]

    def account(self, address: str) -> dict:
        """{"balance", "next_sequence" (counting pending transfers), "confirmed_sequence", "last_pending"}."""
        return self._call("GET", f"/v1/accounts/{address}")

    def find(self, tag: str | None = None, address: str | None = None, since: int = 0, limit: int = 500,
             kind: str | None = None) -> tuple[list[dict], int]:
        r = self._call("GET", "/v1/find", query={"tag": tag, "address": address, "since": since, "limit": limit,
                                                 "kind": kind})
        return r["items"], r["cursor"]

    def milestones(self, since: int = 0) -> list[dict]:
        return self._call("GET", "/v1/milestones", query={"since": since})["milestones"]

    def peers(self) -> list[str]:
        return self._call("GET", "/v1/peers")["peers"]

    def add_peer(self, url: str) -> list[str]:
        return self._call("POST", "/v1/peers", {"url": url})["peers"]

    def faucet(self, address: str, amount: int) -> str:
        return self._call("POST", "/v1/faucet", {"address": address, "amount": amount})["id"]

    def wait_confirmed(self, tx_id: str, timeout: float = 10.0) -> dict:
        """Poll until the transaction is referenced by a milestone (confirmed or conflicting)."""
        def referenced() -> dict | None:
            try:
                d = self.get(tx_id)
            except TangleRejected as exc:
                if exc.status != 404:
                    raise
                return None  # not arrived yet
            return d if d["milestone"] is not None else None

        return poll_until(referenced, timeout=timeout, on_timeout=lambda: TangleError(
            f"transaction {tx_id} not confirmed within {timeout}s"))
