"""Sealed bids of wallet sessions: the amount boxes the browser sealed, kept so any machine can reveal.

The salt of a wallet's sealed bid is never sent before its reveal: the browser derives it from the
wallet (an HMAC under a key from the key-delivery signature, over chain, house and auction), so the
same wallet finds it on any machine. The bid amount cannot be derived, so the browser seals it
(AES-GCM under another key from that signature, bound to chain, house, bidder and auction) and this
store keeps the box; this server cannot open it. A box that was changed does not open, and the
browser checks the commitment it rebuilds against the chain before it reveals.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

BOX_LEN = 12 + 32 + 16  # nonce, the amount as 32 bytes, the GCM tag
_ADDRESS = re.compile(r"^0x[0-9a-f]{40}$")


class WalletSealedStore:
    """``<dir>/<address>/<chain>-<house>-<auction>.box``: one box per bid, written atomically (any worker)."""

    def __init__(self, directory: Path):
        self.dir = Path(directory)

    def _path(self, address: str, chain_id: int, house: str, auction_id: int) -> Path:
        address, house = address.lower(), house.lower()
        if not (_ADDRESS.match(address) and _ADDRESS.match(house)):
            raise ValueError("addresses must be 0x and 40 hex digits")
        return self.dir / address / f"{int(chain_id)}-{house}-{int(auction_id)}.box"

    def put(self, address: str, chain_id: int, house: str, auction_id: int, box: bytes) -> None:
        if len(box) != BOX_LEN:
            raise ValueError(f"a sealed amount box is {BOX_LEN} bytes")
        path = self._path(address, chain_id, house, auction_id)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".box-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(box)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, address: str, chain_id: int, house: str, auction_id: int) -> bytes | None:
        try:
            return self._path(address, chain_id, house, auction_id).read_bytes()
        except FileNotFoundError:
            return None
