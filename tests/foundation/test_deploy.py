import json
import secrets

import pytest
from eth_account import Account

from exchange.chain.connect import create_keystore, load_keystore, rpc_chain
from exchange.chain.deploy import contract, deploy_all
from exchange.errors import ChainConnectionError, ContractRevert, KeystoreError


def _exercise(chain, tmp_path):
    manifest, path = deploy_all(chain, tmp_path)
    assert path == tmp_path / f"{chain.chain_id}.json"
    on_disk = json.loads(path.read_text())
    assert on_disk["contracts"]["MessageBoard"]["address"] == manifest["contracts"]["MessageBoard"]["address"]
    board = contract(chain, manifest, "MessageBoard")
    receipt = chain.transact(board.functions.post(b"t" * 32, b"hello"))
    (event,) = board.events.MessagePosted().process_receipt(receipt)
    assert event["args"]["payload"] == b"hello"
    with pytest.raises(ContractRevert) as err:
        chain.transact(board.functions.post(b"t" * 32, b"x" * 16385))
    assert err.value.error == "PayloadTooLarge" and err.value.error_args == (16385, 16384)
    return manifest


def test_deploy_and_call_on_eth_tester(chain, tmp_path):
    first = _exercise(chain, tmp_path)
    again, _ = deploy_all(chain, tmp_path)
    assert again["contracts"] == first["contracts"]  # reused, not redeployed
    fresh, _ = deploy_all(chain, tmp_path, fresh=True)
    assert fresh["contracts"]["MessageBoard"]["address"] != first["contracts"]["MessageBoard"]["address"]


@pytest.mark.anvil
def test_deploy_and_call_on_anvil(anvil_chain, tmp_path):
    _exercise(anvil_chain, tmp_path)


@pytest.mark.anvil
def test_deploy_with_encrypted_keystore_signs_locally(anvil_chain, anvil_process, tmp_path):
    ks = tmp_path / "deployer.json"
    key = secrets.token_bytes(32)
    addr = create_keystore(ks, "correct horse", private_key=key)
    text = ks.read_text().lower()
    assert key.hex() not in text and "private" not in text  # the key only encrypted, under "crypto"
    assert Account.decrypt(json.loads(text), "correct horse") == key
    anvil_chain.w3.eth.send_transaction({"from": anvil_chain.deployer, "to": addr, "value": 10**18})
    signed = rpc_chain(anvil_process.url, keystore=ks, password="correct horse")
    assert signed.accounts == [addr]
    manifest, _ = deploy_all(signed, tmp_path)
    assert manifest["deployer"] == addr


def test_wrong_password_is_a_keystore_error(tmp_path):
    ks = tmp_path / "k.json"
    create_keystore(ks, "right")
    with pytest.raises(KeystoreError, match="wrong password"):
        load_keystore(ks, "wrong")


def test_missing_password_is_a_keystore_error(tmp_path, monkeypatch):
    monkeypatch.delenv("THINGBID_KEYSTORE_PASSWORD", raising=False)
    ks = tmp_path / "k.json"
    create_keystore(ks, "right")
    with pytest.raises(KeystoreError, match="password missing"):
        load_keystore(ks)


def test_keystore_file_is_private(tmp_path):
    ks = tmp_path / "k.json"
    create_keystore(ks, "pw")
    assert ks.stat().st_mode & 0o077 == 0


def test_unreachable_rpc_is_a_connection_error():
    with pytest.raises(ChainConnectionError, match="no EVM JSON-RPC endpoint answers"):
        rpc_chain("http://127.0.0.1:1")


def test_revert_with_fixed_gas_decodes_the_custom_error_on_eth_tester(chain, tmp_path):
    # With an explicit gas limit nothing estimates first: the revert comes from the sent transaction.
    manifest, _ = deploy_all(chain, tmp_path)
    board = contract(chain, manifest, "MessageBoard")
    with pytest.raises(ContractRevert) as err:
        chain.transact(board.functions.post(b"t" * 32, b"x" * 16385), gas=2_000_000)
    assert (err.value.error, err.value.error_args) == ("PayloadTooLarge", (16385, 16384))
