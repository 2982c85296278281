"""``device-agent doctor``: what stands between this agent and a device that sells.

Each check is one line: chain (the node answers), deployment (a manifest for that chain),
registry (the record exists, is this agent's own and carries the current TD), funds (enough
ETH for the next check-in or update), source (the upstream answers a read), public_url (the
agent's TD answers at the URL published on chain). Later checks that need an earlier one are
reported as skipped, never as a traceback.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass

from exchange.errors import ExchangeError

CHECKS = ("chain", "deployment", "registry", "funds", "source", "public_url")


@dataclass
class Check:
    check: str
    ok: bool
    detail: str


def _public_url(agent) -> Check:
    url = agent.base_url.rstrip("/") + "/.well-known/wot"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - the agent's own http(s) URL
            td = json.loads(resp.read(1_000_000))
    except urllib.error.HTTPError as exc:
        return Check("public_url", False, f"{url} answered {exc.code}: is `device-agent run` serving it?")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return Check("public_url", False, f"nothing answers at {url} ({reason}): start `device-agent run`, and "
                     "make the URL reachable for buyers (--public-url at init)")
    if not isinstance(td, dict) or agent.identity.device_id_hex not in str(td.get("id", "")):
        return Check("public_url", False, f"{url} serves another device's TD: is another agent on that port?")
    return Check("public_url", True, f"{url} serves this device's TD")


def diagnose(agent, connect) -> list[Check]:
    """Run every check. ``connect()`` attaches the chain to ``agent`` (raises ExchangeError)."""
    out: list[Check] = []
    try:
        connect()
        chain_ok = True
        out.append(Check("chain", True, f"chain {agent.chain.chain_id} answers"))
        out.append(Check("deployment", True, f"registry at {agent.registry.address}"))
    except ExchangeError as exc:
        chain_ok = False
        text = str(exc)
        if "deployment manifest" in text:
            out.append(Check("chain", True, "the node answers"))
            out.append(Check("deployment", False, text))
        else:
            out.append(Check("chain", False, text))
            out.append(Check("deployment", False, "skipped: no chain"))
    if chain_ok:
        out.extend(_chain_checks(agent))
    else:
        out.append(Check("registry", False, "skipped: no chain"))
        out.append(Check("funds", False, "skipped: no chain"))
    try:
        out.append(Check("source", True, agent.source.check()))
    except ExchangeError as exc:
        out.append(Check("source", False, str(exc)))
    out.append(_public_url(agent))
    return out


def _chain_checks(agent) -> list[Check]:
    from device_agent.td import td_bytes_and_hash
    from exchange.chain.connect import format_eth

    out = []
    listed = False
    try:
        reg = agent.registry
        state = reg.device(agent.device_id)
        problem = agent.foreign_owner(state.owner)
        if problem:
            out.append(Check("registry", False, problem))
        elif not state.active:
            how = "run `device-agent enable`" if not agent.enabled() else "the next `device-agent run` checks it in"
            out.append(Check("registry", False, f"device {agent.identity.device_id_hex[:12]} is not checked in: {how}"))
        else:
            listed = True
            _, td_hash = td_bytes_and_hash(agent.td())
            on_chain = reg.current_td_hash(agent.device_id)
            if on_chain != td_hash:
                out.append(Check("registry", False, "the TD on chain differs from the current one: run "
                                 "`device-agent enable` (or `run`) to update it"))
            else:
                out.append(Check("registry", True, f"checked in by {state.owner}, current TD"
                                 + (", attested" if state.attested else "")))
    except ExchangeError as exc:
        out.append(Check("registry", False, str(exc)))
    try:
        have = agent.chain.balance(agent.address)
        gas, needed = agent.checkin_cost() if not listed else (0, 0)
        if listed:  # an update, a delivery, a withdrawal: keep at least a check-in's worth
            gas, needed = 150_000, 150_000 * agent.chain.gas_price()
        if have < needed:
            out.append(Check("funds", False, f"{agent.address} holds {format_eth(have)}; needs about "
                             f"{format_eth(needed)} ({gas:,} gas): fund it with ETH"))
        else:
            out.append(Check("funds", True, f"{agent.address} holds {format_eth(have)}"))
    except ExchangeError as exc:
        out.append(Check("funds", False, str(exc)))
    return out


def render(checks: list[Check], as_json: bool) -> str:
    if as_json:
        return json.dumps({"ok": all(c.ok for c in checks), "checks": [asdict(c) for c in checks]})
    return "\n".join(f"{'OK  ' if c.ok else 'FAIL'} {c.check:10} {c.detail}" for c in checks)
