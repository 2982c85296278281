"""The app's handles on the rest of the system: chain, manifest, catalog, tangle.

Everything goes through the exchange clients (only ``exchange.chain`` imports web3).
Each signed-in user gets a chain connection of their own that signs with their key, so
users never act through each other's accounts.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

from frontend.errors import ServiceUnavailable


class Services:
    """Lazily connected handles; tests pass ready ones, ``from_settings`` builds them from config."""

    def __init__(self, chain, manifest, database_url: str, tangle_url: str, keystore_dir, dev_faucet: bool = False,
                 rpc_url: str = "", deployments_dir: Path | None = None, catalog=None, index_on_read: bool = True):
        self.chain = chain  # exchange.chain.connect.Chain of the operator (reads; dev faucet)
        self.manifest = manifest
        self.database_url = database_url
        self.tangle_url = tangle_url
        self.keystore_dir = Path(keystore_dir)
        self.dev_faucet = dev_faucet  # local chains only: fund new accounts from the chain's first account
        self.rpc_url = rpc_url
        self.deployments_dir = deployments_dir
        self._catalog = catalog
        # The auction pages read the catalog's auction tables, which the indexer service fills
        # (`thingbid up`, python -m exchange.system.indexer). ``index_on_read``: this process also
        # brings them up to the chain's head before each read (one process, no indexer service: an
        # in-process eth-tester chain, tests); ``from_settings`` (served, several workers) leaves it off.
        self.index_on_read = index_on_read
        self._indexer = None
        self._lock = threading.RLock()
        self._index_lock = threading.Lock()

    @classmethod
    def from_settings(cls, config) -> Services:
        from exchange.config import load_settings

        s = load_settings()
        return cls(chain=None, manifest=None,
                   database_url=config.get("DATABASE_URL") or s.database_url or s.sqlite_url("catalog"),
                   tangle_url=config.get("TANGLE_URL") or s.tangle_url,
                   keystore_dir=Path(config.get("KEYSTORE_DIR") or s.state_dir / "keystores"),
                   dev_faucet=bool(config.get("DEV_FAUCET", False)),
                   rpc_url=config.get("RPC_URL") or s.rpc_url,
                   deployments_dir=Path(config.get("DEPLOYMENTS_DIR") or s.deployments_dir),
                   index_on_read=bool(config.get("INDEX_ON_READ", False)))

    # -- chain ---------------------------------------------------------------------------------
    def base_chain(self):
        with self._lock:
            if self.chain is None:
                from exchange.chain.connect import rpc_chain
                from exchange.errors import ChainConnectionError

                try:
                    self.chain = rpc_chain(self.rpc_url)
                except ChainConnectionError as exc:
                    raise ServiceUnavailable(str(exc)) from exc
            if self.manifest is None:
                from exchange.chain.deploy import load_manifest

                self.manifest = load_manifest(self.chain, self.deployments_dir)
                if self.manifest is None:
                    raise ServiceUnavailable("no deployment manifest for this chain: run `thingbid deploy`")
            return self.chain

    def chain_guard(self):
        """eth-tester is not thread-safe: serialise its use; real nodes need no lock."""
        chain = self.base_chain()
        return self._lock if chain.kind == "embedded" else contextlib.nullcontext()

    def signer_chain(self, account, keystore_path: Path | None = None, password: str | None = None):
        """A Chain whose transactions are signed with this user's key (and only theirs).

        eth-tester signs for accounts it holds, so the key is added there; a JSON-RPC node
        gets a fresh connection with a local signing middleware built from the keystore
        (``rpc_chain``), keeping web3 inside ``exchange.chain``.
        """
        return self.base_chain().with_signer(bytes(account.key), keystore_path, password)

    # -- catalog -------------------------------------------------------------------------------
    def catalog(self):
        with self._lock:
            if self._catalog is None:
                from exchange.catalog import Catalog

                self._catalog = Catalog(self.database_url)
            return self._catalog

    def auctions(self):
        """The catalog's auction tables (``exchange.catalog.auctions.AuctionReads``), caught up with
        the chain first when this process indexes on read."""
        catalog = self.catalog()
        if self.index_on_read:
            from exchange.catalog.indexer import Indexer

            with self._index_lock:
                chain = self.base_chain()
                if self._indexer is None:
                    contracts = self.manifest["contracts"]
                    self._indexer = Indexer(chain, contracts["DeviceRegistry"]["address"], engine=catalog.engine,
                                            auction_house=contracts.get("AuctionHouse", {}).get("address"))
                with self.chain_guard():
                    self._indexer.sync()
        return catalog.auctions

    # -- tangle --------------------------------------------------------------------------------
    def tangle(self):
        from exchange.tangle.client import TangleClient

        return TangleClient(self.tangle_url)
