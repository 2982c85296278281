"""Deploy the contracts in order and write ``deployments/<chainId>.json``.

``DEPLOY_PLAN`` is the one list of what the system deploys. Each step names a contract,
how to build its constructor arguments from the addresses deployed before it, and optional
set-up calls made right after. A step with ``mechanism`` set is an auction mechanism: the house
allow-lists every one of them, in plan order, and everything that lists mechanisms (the clients,
the device agent's choices, the catalog, the tests) reads them from here
(:func:`mechanism_steps`). Adding a mechanism is its contract plus one step. Re-running reuses every deployed contract whose code is
still on chain and whose artifact is unchanged, unless ``fresh`` is asked for.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from exchange.chain.artifacts import artifact_hash, load_artifact
from exchange.chain.connect import Chain
from exchange.errors import DeploymentError

Addresses = dict[str, str]


@dataclass(frozen=True)
class DeployStep:
    name: str  # key in the manifest
    contract: str  # artifact name
    args: Callable[[Chain, Addresses], list] = lambda chain, addrs: []
    setup: Callable[[Chain, Addresses], None] | None = None  # calls made right after deploying
    depends_on: tuple[str, ...] = field(default=())
    mechanism: str = ""  # an auction mechanism: the name its contract's name() returns


def mechanism_steps(plan: list[DeployStep] | None = None) -> list[DeployStep]:
    """The mechanism steps of ``plan`` (default DEPLOY_PLAN), in the order the house registers them."""
    return [s for s in (DEPLOY_PLAN if plan is None else plan) if s.mechanism]


def mechanism_names(plan: list[DeployStep] | None = None) -> list[str]:
    """The names of the shipped mechanisms, in registration order (a device's code is the index)."""
    return [s.mechanism for s in mechanism_steps(plan)]


def _register_mechanisms(chain: Chain, addrs: Addresses) -> None:
    """Allow-list the shipped auction mechanisms in the freshly deployed AuctionHouse and name it
    to the registry."""
    house = chain.w3.eth.contract(address=addrs["AuctionHouse"], abi=load_artifact("AuctionHouse")["abi"])
    for step in mechanism_steps():
        mech = chain.w3.eth.contract(address=addrs[step.name], abi=load_artifact(step.contract)["abi"])
        named = mech.functions.name().call()
        if named != step.mechanism:
            raise DeploymentError(f"{step.name} calls itself {named!r}, the deploy plan {step.mechanism!r}")
        chain.transact(house.functions.registerMechanism(addrs[step.name]))
    # The registry tells the house of check-outs and transfers (cancel / refuse while running).
    registry = chain.w3.eth.contract(address=addrs["DeviceRegistry"], abi=load_artifact("DeviceRegistry")["abi"])
    named = registry.functions.house().call()
    if int(named, 16) != 0:  # set once: a reused registry cannot follow a redeployed house
        raise DeploymentError(f"the reused DeviceRegistry already names the house {named}: deploy fresh")
    chain.transact(registry.functions.setHouse(addrs["AuctionHouse"]))


# Mechanisms, in registration order (a device's mechanism code in the registry is the index).
_MECHANISMS = [
    DeployStep("EnglishAuction", "EnglishAuction", mechanism="english"),
    DeployStep("SealedSecondPrice", "SealedSecondPrice", mechanism="sealed-second-price"),
    DeployStep("SealedFirstPrice", "SealedFirstPrice", mechanism="sealed-first-price"),
]

DEPLOY_PLAN: list[DeployStep] = [
    DeployStep("DeviceRegistry", "DeviceRegistry"),  # first: AuctionHouse takes its address
    *_MECHANISMS,
    # registry, governance = deployer, fee account = deployer, protocol fee 0 bps
    DeployStep("AuctionHouse", "AuctionHouse",
               args=lambda chain, addrs: [addrs["DeviceRegistry"], chain.deployer, chain.deployer, 0],
               setup=_register_mechanisms, depends_on=("DeviceRegistry", *(m.name for m in _MECHANISMS))),
    DeployStep("MessageBoard", "MessageBoard"),
]


def manifest_path(chain_id: int, deployments_dir: Path) -> Path:
    return deployments_dir / f"{chain_id}.json"


def load_manifest(chain: Chain, deployments_dir: Path) -> dict | None:
    path = manifest_path(chain.chain_id, deployments_dir)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DeploymentError(f"manifest {path} is not valid JSON") from exc


def contract(chain: Chain, manifest: dict, name: str):
    """A web3 contract object for a deployed step by its manifest name."""
    entry = manifest["contracts"].get(name)
    if entry is None:
        raise DeploymentError(f"{name} is not in the deployment manifest for chain {manifest['chainId']}")
    return chain.w3.eth.contract(address=entry["address"], abi=load_artifact(entry["contract"])["abi"])


def _still_deployed(chain: Chain, entry: dict) -> bool:
    try:
        same = entry["artifactHash"] == artifact_hash(entry["contract"])
    except Exception:  # noqa: BLE001 - missing artifact: not reusable
        return False
    return same and len(chain.w3.eth.get_code(entry["address"])) > 0


def deploy_contract(chain: Chain, contract_name: str, args: list, sender: str | None = None):
    art = load_artifact(contract_name)
    factory = chain.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    receipt = chain.transact(factory.constructor(*args), sender=sender)
    return receipt


def deploy_all(chain: Chain, deployments_dir: Path, fresh: bool = False, plan: list[DeployStep] | None = None,
               progress: Callable[[str], None] = lambda msg: None, network: str = "") -> tuple[dict, Path]:
    """Deploy (or reuse) every step; returns (manifest, path written)."""
    plan = DEPLOY_PLAN if plan is None else plan
    old = None if fresh else load_manifest(chain, deployments_dir)
    entries: dict[str, dict] = {}
    addresses: Addresses = {}
    reusing = old is not None
    for i, step in enumerate(plan, 1):
        prev = (old or {}).get("contracts", {}).get(step.name)
        if reusing and prev and prev.get("contract") == step.contract and _still_deployed(chain, prev):
            entries[step.name] = prev
            addresses[step.name] = prev["address"]
            progress(f"[{i}/{len(plan)}] {step.name}: reusing {prev['address']}")
            continue
        reusing = False  # everything after a redeployed contract is redeployed too
        receipt = deploy_contract(chain, step.contract, step.args(chain, addresses))
        addresses[step.name] = receipt["contractAddress"]
        if step.setup:
            step.setup(chain, addresses)
        entries[step.name] = {
            "contract": step.contract,
            "address": receipt["contractAddress"],
            "txHash": receipt["transactionHash"].hex(),
            "blockNumber": receipt["blockNumber"],
            "gasUsed": receipt["gasUsed"],
            "artifactHash": artifact_hash(step.contract),
        }
        progress(f"[{i}/{len(plan)}] {step.name}: deployed at {receipt['contractAddress']} (gas {receipt['gasUsed']})")
    manifest = {
        "chainId": chain.chain_id,
        "network": network or chain.kind,
        "deployer": chain.deployer,
        "updatedAt": int(time.time()),
        "contracts": entries,
    }
    deployments_dir.mkdir(parents=True, exist_ok=True)
    path = manifest_path(chain.chain_id, deployments_dir)
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest, path
