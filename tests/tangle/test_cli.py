"""``thingbid tangle`` commands against a running node."""

import subprocess
import sys

from exchange.tangle.client import TangleClient
from exchange.tangle.testing import run_node


def _cli(*args, env_pw="secret-pw"):
    import os

    r = subprocess.run([sys.executable, "-m", "exchange.cli", "tangle", *args], capture_output=True, text=True,
                       timeout=60, env={**os.environ, "THINGBID_WALLET_PASSWORD": env_pw})
    return r.returncode, r.stdout.strip(), r.stderr.strip()


def test_wallet_new_faucet_send_balance_history(tmp_path):
    with run_node(tmp_path) as (url, node):
        c = TangleClient(url)
        rc, addr, _ = _cli("wallet-new", "--wallet", str(tmp_path / "a.json"))
        assert rc == 0 and len(addr) == 64
        rc, fid, _ = _cli("faucet", "--url", url, addr, "500")
        assert rc == 0
        c.wait_confirmed(fid)
        rc, out, _ = _cli("balance", "--url", url, "--wallet", str(tmp_path / "a.json"))
        assert (rc, out) == (0, "500")
        to = "ab" * 32
        rc, out, err = _cli("send", "--url", url, "--wallet", str(tmp_path / "a.json"), to, "120", "--memo", "m",
                            "--wait")
        assert rc == 0, err
        assert out.splitlines()[1].startswith("confirmed by milestone")
        assert c.balance(to) == 120
        rc, out, _ = _cli("history", "--url", url, "--address", addr)
        assert rc == 0 and len(out.splitlines()) == 2 and "confirmed" in out
        rc, _, err = _cli("send", "--url", url, "--wallet", str(tmp_path / "a.json"), to, "1", env_pw="wrong")
        assert rc == 1 and "wrong password" in err
        rc, _, err = _cli("send", "--url", url, "--wallet", str(tmp_path / "a.json"), "nothex", "1")
        assert rc == 1 and "address" in err
