"""DeviceRegistry on a real (eth-tester) chain through the typed client."""

from __future__ import annotations

import os

import pytest
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from exchange.chain.registry import MECHANISMS, CheckInItem, DeviceKey, RegistryClient, RegistryInputError
from exchange.errors import ContractRevert
from exchange.wot import canonical_td
from exchange.wot.samples import appliance_td

TD = canonical_td(appliance_td())
TD2 = canonical_td(appliance_td("SmartMeter"))
DKEY = DeviceKey.from_seed(keccak(b"device-1"))
DEV = DKEY.device_id
KEY = keccak(b"x25519-public-key-1")
SKEY = keccak(b"ed25519-signing-key-1")


@pytest.fixture
def reg(chain):
    return RegistryClient.deploy(chain)


@pytest.fixture
def owner(chain):
    return chain.accounts[1]


@pytest.fixture
def other(chain):
    return chain.accounts[2]


@pytest.fixture
def checked_in(reg, owner):
    reg.check_in(DKEY, TD, KEY, SKEY, "tangle-addr-1", 10**17, 1, sender=owner)
    return DEV


def revert_of(fn) -> ContractRevert:
    """The revert, with address arguments checksummed (eth-abi decodes them lower-case)."""
    with pytest.raises(ContractRevert) as info:
        fn()
    e = info.value
    return ContractRevert(e.error, tuple(to_checksum_address(a) if isinstance(a, str) and a.startswith("0x")
                                         and len(a) == 42 else a for a in e.error_args))


def test_check_in_stores_compact_state_and_emits_td(reg, owner, checked_in):
    state = reg.device(DEV)
    assert (state.owner, state.reserve_price, state.mechanism, state.active, state.attested, state.signing_key) == \
        (owner, 10**17, 1, True, False, SKEY)
    assert reg.signing_key_of(DEV) == SKEY
    assert reg.owner_of(DEV) == owner and reg.is_active(DEV)
    (ev,) = [e for e in reg.events() if e.name != "GovernanceTransferred"]
    assert ev.name == "DeviceCheckedIn" and ev.args["td"] == TD and ev.args["tdHash"] == keccak(TD)
    assert ev.args["tangleAddress"] == "tangle-addr-1" and ev.args["owner"] == owner
    assert (ev.args["x25519Key"], ev.args["signingKey"]) == (KEY, SKEY)
    assert reg.current_td_hash(DEV) == keccak(TD)


def test_unknown_device_has_no_owner_and_is_inactive(reg):
    assert reg.owner_of(DEV) == "0x" + "0" * 40 and not reg.is_active(DEV)


def test_duplicate_id_reverts_with_current_owner(reg, owner, other, checked_in):
    before = (reg.device(DEV), reg.current_td_hash(DEV), len(reg.events()))
    e = revert_of(lambda: reg.check_in(DKEY, TD2, KEY, SKEY, "t", 1, 0, sender=other))
    assert e.error == "DeviceAlreadyRegistered" and e.error_args == (DEV, owner)
    e = revert_of(lambda: reg.check_in(DKEY, TD2, KEY, SKEY, "t", 1, 0, sender=owner))
    assert (e.error, e.error_args) == ("DeviceAlreadyRegistered", (DEV, owner))
    assert (reg.device(DEV), reg.current_td_hash(DEV), len(reg.events())) == before


def _tuple(reg, owner, key=DKEY, td=TD, x=KEY, s=SKEY, **over):
    """A CheckIn tuple signed by ``key`` for ``owner``, with fields overridden by name."""
    t = dict(zip(["deviceId", "tdHash", "td", "x25519Key", "signingKey", "tangleAddress", "reservePrice", "mechanism",
                  "deviceSignature"], CheckInItem(key, td, x, s, "t", 1, 0).as_tuple(reg.chain.chain_id, reg.address,
                                                                                           owner), strict=True))
    t.update(over)
    return tuple(t.values())


def test_td_hash_must_match_bytes(reg, chain, owner):
    e = revert_of(lambda: reg.check_in_tuple(_tuple(reg, owner, tdHash=keccak(b"other")), sender=owner))
    assert e.error == "TdHashMismatch" and e.error_args == (DEV, keccak(b"other"), keccak(TD))
    assert not reg.is_active(DEV)


@pytest.mark.parametrize(("td", "size"), [(b"", 0), (b"x" * 16385, 16385)], ids=["empty", "over-16KiB"])
def test_td_size_limit(reg, owner, td, size):
    e = revert_of(lambda: reg.check_in(DKEY, td, KEY, SKEY, "t", 1, 0, sender=owner))
    assert e.error == "TdSize" and e.error_args == (DEV, size, 16384)


@pytest.mark.parametrize("what", ["deviceId", "x25519Key", "signingKey"])
def test_zero_id_or_key_reverts(reg, owner, what):
    e = revert_of(lambda: reg.check_in_tuple(_tuple(reg, owner, **{what: b"\0" * 32}), sender=owner))
    assert (e.error, e.error_args) == ("ZeroValue", (what,))
    assert not reg.is_active(DEV)


def test_client_rejects_malformed_arguments_before_sending(reg, owner):
    with pytest.raises(RegistryInputError, match="device_key must be a DeviceKey"):
        reg.check_in(b"short", TD, KEY, SKEY, "t", 1, 0, sender=owner)
    with pytest.raises(RegistryInputError, match="reserve_price"):
        reg.check_in(DKEY, TD, KEY, SKEY, "t", 2**80, 0, sender=owner)
    with pytest.raises(RegistryInputError, match="signing_key must be 32 bytes"):
        reg.check_in(DKEY, TD, KEY, b"short", "t", 1, 0, sender=owner)


def test_client_refuses_a_mechanism_code_the_deploy_plan_does_not_name_before_sending(reg, owner, checked_in):
    """A device's mechanism code indexes the deploy plan's mechanisms; any other code would list a
    device no auction could follow (refused with a clear error, nothing sent)."""
    n = len(MECHANISMS)
    other = DeviceKey.from_seed(keccak(b"device-with-a-bad-code"))
    with pytest.raises(RegistryInputError, match=f"mechanism code {n} names no mechanism .*{MECHANISMS[n - 1]}"):
        reg.check_in(other, TD, KEY, SKEY, "t", 1, n, sender=owner)
    assert int(reg.owner_of(other.device_id), 16) == 0
    with pytest.raises(RegistryInputError, match="mechanism code 255 names no mechanism"):
        reg.update(DEV, TD, "tangle-addr-1", 10**17, 255, sender=owner)
    assert reg.device(DEV).mechanism == 1
    reg.check_in(other, TD, KEY, SKEY, "t", 1, n - 1, sender=owner)  # the last planned one is fine
    assert reg.device(other.device_id).mechanism == n - 1


# ------------------------------------------------ proof of control (issue 12 case 2)

def test_copied_pending_check_in_cannot_be_used_by_a_front_runner(reg, owner, other):
    """Case 2: the squatter sends the owner's very check-in first; the device key signed the owner, so
    the registry recovers some other key and refuses; the real owner's check-in then goes through."""
    copied = _tuple(reg, owner)
    e = revert_of(lambda: reg.check_in_tuple(copied, sender=other))
    assert e.error == "NotDeviceKey" and e.error_args[0] == DEV and e.error_args[1] != DKEY.address
    assert reg.owner_of(DEV) == "0x" + "0" * 40 and not reg.is_active(DEV)
    reg.check_in_tuple(copied, sender=owner)
    assert reg.owner_of(DEV) == owner and reg.is_active(DEV)


def test_check_in_signed_by_another_device_key_is_refused(reg, owner):
    squatter = Account.create()
    digest_inner = reg.chain.call(reg.contract.functions.checkInDigest(DEV, owner, KEY, SKEY))
    sig = Account.unsafe_sign_hash(digest_inner, squatter.key).signature  # the very digest, another key
    forged = _tuple(reg, owner, deviceSignature=bytes(sig))
    e = revert_of(lambda: reg.check_in_tuple(forged, sender=owner))
    assert (e.error, e.error_args) == ("NotDeviceKey", (DEV, squatter.address))
    assert not reg.is_active(DEV)


def test_check_in_with_keys_the_device_did_not_sign_is_refused(reg, owner):
    swapped = _tuple(reg, owner, signingKey=keccak(b"attacker signing key"))
    e = revert_of(lambda: reg.check_in_tuple(swapped, sender=owner))
    assert e.error == "NotDeviceKey" and e.error_args[1] != DKEY.address
    assert not reg.is_active(DEV)


def test_off_chain_check_in_digest_matches_contract(reg, owner):
    from eth_abi import encode

    inner = keccak(encode(["bytes32", "uint256", "address", "bytes32", "address", "bytes32", "bytes32"],
                          [keccak(text="thingbid/check-in/v2"), reg.chain.chain_id, reg.address, DEV, owner, KEY, SKEY]))
    assert reg.chain.call(reg.contract.functions.checkInDigest(DEV, owner, KEY, SKEY)) == \
        keccak(b"\x19Ethereum Signed Message:\n32" + inner)


def test_update_by_owner(reg, owner, checked_in):
    reg.update(DEV, TD2, "tangle-addr-2", 5, 0, sender=owner)
    s = reg.device(DEV)
    assert (s.reserve_price, s.mechanism, s.signing_key) == (5, 0, SKEY)
    assert reg.events()[-1].name == "DeviceUpdated" and reg.current_td_hash(DEV) == keccak(TD2)


def test_update_by_non_owner_reverts(reg, owner, other, checked_in):
    e = revert_of(lambda: reg.update(DEV, TD2, "t", 5, 0, sender=other))
    assert (e.error, e.error_args) == ("NotDeviceOwner", (DEV, other, owner))
    assert reg.device(DEV).reserve_price == 10**17


def test_update_unknown_device_reverts(reg, owner):
    e = revert_of(lambda: reg.update(DEV, TD2, "t", 5, 0, sender=owner))
    assert (e.error, e.error_args) == ("UnknownDevice", (DEV,))


def test_check_out_by_owner_then_update_reverts_inactive(reg, owner, checked_in):
    reg.check_out(DEV, sender=owner)
    assert not reg.is_active(DEV) and reg.owner_of(DEV) == owner
    e = revert_of(lambda: reg.update(DEV, TD2, "t", 5, 0, sender=owner))
    assert (e.error, e.error_args) == ("DeviceInactive", (DEV,))
    e = revert_of(lambda: reg.check_out(DEV, sender=owner))
    assert (e.error, e.error_args) == ("DeviceInactive", (DEV,))


def test_check_out_by_non_owner_reverts(reg, owner, other, checked_in):
    e = revert_of(lambda: reg.check_out(DEV, sender=other))
    assert (e.error, e.error_args) == ("NotDeviceOwner", (DEV, other, owner))
    assert reg.is_active(DEV) and reg.owner_of(DEV) == owner


def test_owner_may_check_in_again_after_check_out_but_others_may_not(reg, owner, other, checked_in):
    reg.check_out(DEV, sender=owner)
    e = revert_of(lambda: reg.check_in(DKEY, TD, KEY, SKEY, "t", 1, 0, sender=other))
    assert (e.error, e.error_args) == ("DeviceAlreadyRegistered", (DEV, owner))
    assert not reg.is_active(DEV) and reg.owner_of(DEV) == owner
    reg.check_in(DKEY, TD2, KEY, SKEY, "t", 1, 0, sender=owner)
    assert reg.is_active(DEV)


def test_transfer_by_owner_moves_control_and_drops_the_attestation(reg, owner, other, oem, checked_in):
    reg.set_oem(oem.address, True)
    reg.attest(DEV, reg.sign_attestation(oem.key, DEV, owner, SKEY))
    reg.transfer(DEV, other, sender=owner)
    assert not reg.is_attested(DEV)  # it named the old owner
    assert reg.owner_of(DEV) == other
    e = revert_of(lambda: reg.check_out(DEV, sender=owner))
    assert (e.error, e.error_args) == ("NotDeviceOwner", (DEV, owner, other))
    assert reg.is_active(DEV)
    reg.check_out(DEV, sender=other)
    ev = [e for e in reg.events() if e.name == "DeviceTransferred"][0]
    assert (ev.args["from"], ev.args["to"]) == (owner, other)


def test_transfer_by_non_owner_or_to_zero_reverts(reg, owner, other, checked_in):
    e = revert_of(lambda: reg.transfer(DEV, other, sender=other))
    assert (e.error, e.error_args) == ("NotDeviceOwner", (DEV, other, owner))
    e = revert_of(lambda: reg.transfer(DEV, "0x" + "0" * 40, sender=owner))
    assert (e.error, e.error_args) == ("ZeroValue", ("to",))
    assert reg.owner_of(DEV) == owner


def test_batch_check_in_registers_every_device(reg, owner):
    items = [CheckInItem(DeviceKey.from_seed(keccak(bytes([i]))), TD, os.urandom(32), os.urandom(32), f"t{i}", i, i % 2)
             for i in range(1, 11)]
    reg.check_in_batch(items, sender=owner)
    assert all(reg.is_active(i.device_id) and reg.owner_of(i.device_id) == owner for i in items)
    assert len([e for e in reg.events() if e.name == "DeviceCheckedIn"]) == 10


def test_batch_with_a_duplicate_reverts_whole_batch(reg, owner, checked_in):
    new = DeviceKey.from_seed(keccak(b"new"))
    items = [CheckInItem(new, TD, KEY, SKEY, "t", 1), CheckInItem(DKEY, TD, KEY, SKEY, "t", 1)]
    e = revert_of(lambda: reg.check_in_batch(items, sender=owner))
    assert (e.error, e.error_args) == ("DeviceAlreadyRegistered", (DEV, owner))
    assert not reg.is_active(new.device_id)


def test_empty_batch_reverts(reg, owner):
    e = revert_of(lambda: reg.check_in_batch([], sender=owner))
    assert (e.error, e.error_args) == ("BatchSize", (0, 200))


# ---------------------------------------------------------------- OEM attestation

@pytest.fixture
def oem():
    return Account.create()


def test_valid_oem_signature_marks_device_attested(reg, chain, owner, oem, checked_in):
    reg.set_oem(oem.address, True)
    sig = reg.sign_attestation(oem.key, DEV, owner, SKEY)
    reg.attest(DEV, sig, sender=chain.accounts[3])  # anyone may submit it
    assert reg.is_attested(DEV)
    ev = reg.events()[-1]
    assert ev.name == "DeviceAttested" and ev.args["oem"] == oem.address


def test_off_chain_digest_matches_contract(reg, owner, oem):
    from eth_abi import encode

    inner = keccak(encode(["bytes32", "uint256", "address", "bytes32", "address", "bytes32"],
                          [keccak(text="thingbid/attestation/v2"), reg.chain.chain_id, reg.address, DEV, owner, SKEY]))
    assert reg.attestation_digest(DEV, owner, SKEY) == keccak(b"\x19Ethereum Signed Message:\n32" + inner)


def test_signature_from_unlisted_oem_reverts(reg, owner, oem, checked_in):
    e = revert_of(lambda: reg.attest(DEV, reg.sign_attestation(oem.key, DEV, owner, SKEY), sender=owner))
    assert (e.error, e.error_args) == ("NotAllowedOem", (oem.address,))
    assert not reg.is_attested(DEV)


@pytest.mark.parametrize("forge", ["another signing key", "another owner"])
def test_oem_signature_for_another_record_does_not_attest_this_one(reg, owner, other, oem, checked_in, forge):
    """Case 2: the attestation binds the owner (and key): a genuine OEM signature for someone else's
    record (say the real owner's, replayed on a squatter's) attests nothing here."""
    reg.set_oem(oem.address, True)
    forged = (reg.sign_attestation(oem.key, DEV, owner, keccak(b"attacker key")) if forge == "another signing key"
              else reg.sign_attestation(oem.key, DEV, other, SKEY))
    e = revert_of(lambda: reg.attest(DEV, forged, sender=owner))
    from eth_account.messages import encode_defunct

    recovered = Account.recover_message(encode_defunct(primitive=_attest_inner(reg, owner)), signature=forged)
    assert recovered != oem.address
    assert (e.error, e.error_args) == ("NotAllowedOem", (recovered,))
    assert not reg.is_attested(DEV)


def _attest_inner(reg, owner):
    from eth_abi import encode

    return keccak(encode(["bytes32", "uint256", "address", "bytes32", "address", "bytes32"],
                         [keccak(text="thingbid/attestation/v2"), reg.chain.chain_id, reg.address, DEV, owner, SKEY]))


@pytest.mark.parametrize(("sig", "length"), [(b"\x01" * 64, 64), (b"\x00" * 65, 65)], ids=["short", "zero"])
def test_malformed_signature_reverts(reg, owner, sig, length, checked_in):
    e = revert_of(lambda: reg.attest(DEV, sig, sender=owner))
    assert (e.error, e.error_args) == ("BadSignature", (length,))
    assert not reg.is_attested(DEV)


def test_removed_oem_can_no_longer_attest(reg, owner, oem, checked_in):
    reg.set_oem(oem.address, True)
    reg.set_oem(oem.address, False)
    assert not reg.is_oem(oem.address)
    e = revert_of(lambda: reg.attest(DEV, reg.sign_attestation(oem.key, DEV, owner, SKEY)))
    assert (e.error, e.error_args) == ("NotAllowedOem", (oem.address,))
    assert not reg.is_attested(DEV)


def test_re_check_in_with_new_key_drops_attestation(reg, owner, oem, checked_in):
    reg.set_oem(oem.address, True)
    reg.attest(DEV, reg.sign_attestation(oem.key, DEV, owner, SKEY))
    reg.check_out(DEV, sender=owner)
    reg.check_in(DKEY, TD, keccak(b"new key"), SKEY, "t", 1, 0, sender=owner)
    assert not reg.is_attested(DEV)


def test_only_governance_allow_lists_oems(reg, other, oem):
    e = revert_of(lambda: reg.set_oem(oem.address, True, sender=other))
    assert (e.error, e.error_args) == ("NotGovernance", (other,))
    reg.transfer_governance(other)
    reg.set_oem(oem.address, True, sender=other)
    assert reg.governance() == other and reg.is_oem(oem.address)


def test_attest_unknown_device_reverts(reg, owner, oem):
    reg.set_oem(oem.address, True)
    e = revert_of(lambda: reg.attest(DEV, reg.sign_attestation(oem.key, DEV, owner, SKEY)))
    assert (e.error, e.error_args) == ("UnknownDevice", (DEV,))


def test_single_check_in_of_typical_td_fits_gas_budget(reg, owner):
    receipt = reg.check_in(DKEY, TD, KEY, SKEY, "tangle-address-0001", 10**17, 1, sender=owner)
    assert receipt["gasUsed"] <= 130_000  # with the proof of control
