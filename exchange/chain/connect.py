"""Connections to a chain: embedded eth-tester, a local anvil, or any JSON-RPC endpoint."""

from __future__ import annotations

import getpass
import json
import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from eth_account import Account
from web3 import Web3
from web3.middleware import SignAndSendRawMiddlewareBuilder

from exchange.chain.anvil import AnvilProcess, start_anvil
from exchange.chain.reverts import raise_decoded
from exchange.errors import ChainConnectionError, InsufficientFundsError, KeystoreError

ETH = 10**18


def format_eth(wei: int) -> str:
    """Wei as ETH for people: up to 6 significant decimals, never rounded to 0."""
    if wei == 0:
        return "0 ETH"
    eth = wei / ETH
    return f"{eth:.6g} ETH" if eth >= 1e-6 else f"{wei} wei"


def _is_insufficient_funds(exc: BaseException) -> bool:
    return "insufficient funds" in str(exc).lower()


@dataclass
class Chain:
    """A web3 connection plus the accounts that can sign on it."""

    w3: Web3
    kind: str  # "embedded", "anvil" or "rpc"
    accounts: list[str]
    anvil: AnvilProcess | None = None
    tester: object | None = None  # the EthereumTester on embedded chains (time travel, snapshots)
    # Serialises the users of one connection that send from the same accounts (nonces, receipts):
    # an agent's seller loop, its stream ledger and the runner's funding share it.
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    @property
    def chain_id(self) -> int:
        return self.w3.eth.chain_id

    @property
    def deployer(self) -> str:
        return self.accounts[0]

    def transact(self, fn, sender: str | None = None, value: int = 0, gas: int | None = None):
        """Send a contract function call, wait for the receipt, raise ContractRevert on a revert."""
        tx = {"from": sender or self.deployer, "value": value}
        if gas:
            tx["gas"] = gas
        try:
            tx_hash = fn.transact(tx)
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
        except Exception as exc:  # noqa: BLE001 - decoded into ContractRevert when it is one
            if _is_insufficient_funds(exc):
                who = tx["from"]
                raise InsufficientFundsError(f"account {who} holds {format_eth(self.balance(who))}, too little "
                                             "for this transaction's gas: fund it with ETH") from exc
            raise_decoded(exc, self.w3)
            raise
        if receipt["status"] != 1:
            # Replay as a call at the same block to learn the reason.
            try:
                fn.call({**tx, "gas": receipt["gasUsed"] * 2}, block_identifier=receipt["blockNumber"] - 1)
            except Exception as exc:  # noqa: BLE001
                raise_decoded(exc, self.w3)
                raise
        return receipt

    def send_value(self, to: str, wei: int, sender: str | None = None) -> str:
        """Send ``wei`` to ``to`` and wait for it; returns the transaction hash (hex)."""
        try:
            tx_hash = self.w3.eth.send_transaction({"from": sender or self.deployer,
                                                    "to": Web3.to_checksum_address(to), "value": wei})
            self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
        except Exception as exc:  # noqa: BLE001 - one clear line for the caller
            if _is_insufficient_funds(exc):
                raise InsufficientFundsError(f"account {sender or self.deployer} cannot send {format_eth(wei)}") from exc
            raise
        return tx_hash.hex()

    def now(self) -> int:
        """Chain time: the latest block's timestamp, what contracts compare their deadlines with."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def gas_price(self) -> int:
        return int(self.w3.eth.gas_price)

    def balance(self, address: str) -> int:
        return int(self.w3.eth.get_balance(Web3.to_checksum_address(address)))

    @property
    def url(self) -> str | None:
        """The JSON-RPC endpoint (None for eth-tester in this process)."""
        return getattr(self.w3.provider, "endpoint_uri", None)

    def block_number(self) -> int:
        return int(self.w3.eth.block_number)

    def gas_used(self, tx_hash: str | bytes) -> int:
        """Gas the mined transaction ``tx_hash`` used."""
        if isinstance(tx_hash, str):
            tx_hash = "0x" + tx_hash.removeprefix("0x")
        return int(self.w3.eth.get_transaction_receipt(tx_hash)["gasUsed"])

    def dev_fund(self, address: str, wei: int, top_up_below: int | None = None) -> str | None:
        """The dev faucet: send ``wei`` from the first unlocked account when ``address`` holds less
        than ``top_up_below`` (default ``wei // 2``); returns the tx hash, or None if nothing was
        needed. Refused on Ethereum mainnet; only callers that know they are on a dev chain use it."""
        if self.chain_id == 1:
            raise ChainConnectionError("the dev faucet never runs on Ethereum mainnet")
        with self.lock:
            if self.balance(address) >= (wei // 2 if top_up_below is None else top_up_below):
                return None
            return self.send_value(address, wei)

    def with_signer(self, private_key: bytes, keystore: str | os.PathLike | None = None,
                    password: str | None = None) -> Chain:
        """A Chain on the same node whose only account is ``private_key``'s: eth-tester is handed
        the key (and the connection and its lock are shared); a JSON-RPC node gets a fresh
        connection signing locally from ``keystore`` (or from the key, without one)."""
        acct = Account.from_key(private_key)
        if self.kind == "embedded":
            with self.lock:
                if acct.address not in self.tester.get_accounts():
                    self.tester.add_account("0x" + bytes(acct.key).hex())
            return Chain(self.w3, "embedded", [acct.address], tester=self.tester, lock=self.lock)
        if keystore is None:  # the key itself (a web worker rebuilding a session): no keystore to decrypt again
            return rpc_chain(self.url, account=acct, kind=self.kind)
        return rpc_chain(self.url, keystore=keystore, password=password, kind=self.kind)

    def add_dev_account(self, private_key: bytes) -> None:
        """eth-tester only: let the in-process chain sign for ``private_key`` (no-op elsewhere)."""
        if self.kind == "embedded":
            with self.lock:
                address = Account.from_key(private_key).address
                if address not in self.tester.get_accounts():
                    self.tester.add_account("0x" + bytes(private_key).hex())

    def estimate_cost(self, fn, sender: str | None = None, fallback_gas: int = 300_000) -> tuple[int, int]:
        """(gas, wei) that sending ``fn`` from ``sender`` is expected to cost, with 20% headroom on
        the gas and the node's current gas price. An account too poor for the node to estimate
        with gets ``fallback_gas``; a revert is raised as ``ContractRevert``."""
        try:
            gas = int(fn.estimate_gas({"from": sender or self.deployer}))
        except Exception as exc:  # noqa: BLE001 - decoded into ContractRevert when it is one
            if not _is_insufficient_funds(exc):
                raise_decoded(exc, self.w3)
                raise
            gas = fallback_gas
        gas = gas * 6 // 5
        return gas, gas * self.gas_price()

    def call(self, fn, sender: str | None = None):
        try:
            return fn.call({"from": sender or self.deployer})
        except Exception as exc:  # noqa: BLE001
            raise_decoded(exc, self.w3)
            raise

    def time_travel(self, seconds: int) -> None:
        """Move chain time forward and mine a block (local chains only)."""
        if self.kind == "embedded":
            ts = self.w3.eth.get_block("latest")["timestamp"]
            self.tester.time_travel(ts + seconds)
            self.tester.mine_blocks(1)
        else:
            # anvil, Hardhat and Ganache all speak these dev methods; a public node refuses them.
            for method, params in (("evm_increaseTime", [seconds]), ("evm_mine", [])):
                answer = self.w3.provider.make_request(method, params)
                if isinstance(answer, dict) and answer.get("error"):
                    raise ChainConnectionError(
                        f"time travel is only possible on a local dev chain (anvil, Hardhat): {method} was refused")

    def close(self) -> None:
        if self.anvil:
            self.anvil.stop()


def embedded_chain() -> Chain:
    """eth-tester with the py-evm backend, in this process."""
    from eth_tester import EthereumTester, PyEVMBackend
    from web3.providers.eth_tester import EthereumTesterProvider

    backend = PyEVMBackend(genesis_parameters=PyEVMBackend.generate_genesis_params({"gas_limit": 60_000_000}))
    tester = EthereumTester(backend)
    w3 = Web3(EthereumTesterProvider(tester))
    return Chain(w3, "embedded", list(w3.eth.accounts), tester=tester)


def rpc_chain(url: str, keystore: str | os.PathLike | None = None, password: str | None = None, kind: str = "rpc",
              account=None) -> Chain:
    """Connect to an endpoint; with a keystore (or an already decrypted eth-account ``account``),
    transactions are signed locally by its key."""
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))
    try:
        _ = w3.eth.chain_id
    except Exception as exc:  # noqa: BLE001
        raise ChainConnectionError(f"no EVM JSON-RPC endpoint answers at {url}: {type(exc).__name__}") from exc
    accounts: list[str]
    if keystore or account is not None:
        acct = account if account is not None else load_keystore(keystore, password)
        w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(acct), layer=0)
        w3.eth.default_account = acct.address
        accounts = [acct.address]
    else:
        accounts = list(w3.eth.accounts)
        if not accounts:
            raise KeystoreError(f"the endpoint {url} has no unlocked accounts: pass --keystore")
    return Chain(w3, kind, accounts)


def anvil_chain(port: int | None = 8545, reuse: bool = True) -> Chain:
    proc = start_anvil(port=port, reuse=reuse)
    chain = rpc_chain(proc.url, kind="anvil")
    chain.anvil = proc if proc.process else None
    return chain


def read_password(password: str | None = None, password_file: str | None = None, prompt: str = "Keystore password: ") -> str:
    """Password from the argument, a file, $THINGBID_KEYSTORE_PASSWORD, or a terminal prompt."""
    if password:
        return password
    if password_file:
        try:
            return Path(password_file).read_text().rstrip("\n")
        except OSError as exc:
            raise KeystoreError(f"cannot read password file {password_file}: {exc.strerror}") from exc
    if os.environ.get("THINGBID_KEYSTORE_PASSWORD"):
        return os.environ["THINGBID_KEYSTORE_PASSWORD"]
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    raise KeystoreError("keystore password missing: pass --password-file or set THINGBID_KEYSTORE_PASSWORD")


def load_keystore(path: str | os.PathLike, password: str | None = None):
    """Decrypt an eth-account JSON keystore into a LocalAccount (the key stays in memory only)."""
    p = Path(path)
    if not p.exists():
        raise KeystoreError(f"keystore {p} does not exist")
    try:
        data = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise KeystoreError(f"keystore {p} is not a JSON keystore") from exc
    secret = read_password(password)
    try:
        return Account.from_key(Account.decrypt(data, secret))
    except ValueError as exc:
        raise KeystoreError(f"keystore {p}: wrong password or corrupt file") from exc


def create_keystore(path: str | os.PathLike, password: str, private_key: bytes | None = None) -> str:
    """Write a new encrypted keystore (mode 0600); returns the address."""
    if not password:
        raise KeystoreError("refusing to create a keystore with an empty password")
    acct = Account.from_key(private_key) if private_key else Account.create()
    data = Account.encrypt(acct.key, password)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    return acct.address
