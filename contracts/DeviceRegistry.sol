// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IDeviceRegistry, IDeviceHooks} from "./IDeviceRegistry.sol";
import {Signatures} from "./lib/Signatures.sol";

/// @title DeviceRegistry
/// @notice Web-of-Things devices checked in by their owners. A device id is the address of a
///         secp256k1 device key (address, then 12 zero bytes): a check-in carries the device key's signature over
///         the owner, the keys and this registry, so only whoever controls the device can list it,
///         and a copied pending check-in is useless to anyone else (it names its sender).
///         The chain keeps two slots per device (owner packed with reserve/mechanism/flags; the
///         Ed25519 token-signing key buyers verify access keys against). The TD hash, the X25519
///         key and the tangle address are checked or signed and emitted next to the canonical TD
///         bytes, but not stored: a third slot would put a check-in of a 1.5 KB TD over its 130k
///         gas budget, and the log (source of the catalog) already carries them.
contract DeviceRegistry is IDeviceRegistry {
    /// @notice One device in a batch check-in.
    struct CheckIn {
        bytes32 deviceId;
        bytes32 tdHash;
        bytes td;
        bytes32 x25519Key;
        bytes32 signingKey; // Ed25519 public key that signs the device's access tokens
        string tangleAddress;
        uint80 reservePrice;
        uint8 mechanism;
        bytes deviceSignature; // device key over checkInDigest(deviceId, owner, x25519Key, signingKey)
    }

    /// @notice What the registry stores per device (returned by `device`).
    struct DeviceView {
        address owner;
        uint80 reservePrice;
        uint8 mechanism;
        bool active;
        bool attested;
        bytes32 signingKey;
    }

    // Packed into one slot: owner (160) | reservePrice (80) | mechanism (8) | flags (8).
    struct Record {
        address owner;
        uint80 reservePrice;
        uint8 mechanism;
        uint8 flags;
        bytes32 signingKey;
    }

    uint8 private constant FLAG_ACTIVE = 1;
    uint8 private constant FLAG_ATTESTED = 2;
    uint256 private constant MAX_TD_BYTES = 16384;
    uint256 private constant MAX_BATCH = 200;
    bytes32 private constant CHECKIN_TAG = keccak256("thingbid/check-in/v2");
    bytes32 private constant ATTEST_TAG = keccak256("thingbid/attestation/v2");

    mapping(bytes32 => Record) private _devices;
    mapping(address => bool) private _oems;
    address private _governance;
    IDeviceHooks private _house;

    /// @notice A device was checked in (or re-checked in after a check-out) with its canonical TD.
    event DeviceCheckedIn(bytes32 indexed deviceId, address indexed owner, bytes32 indexed tdHash, bytes td,
        bytes32 x25519Key, bytes32 signingKey, string tangleAddress, uint80 reservePrice, uint8 mechanism);
    /// @notice A device's TD, tangle address, reserve price or mechanism was updated.
    event DeviceUpdated(bytes32 indexed deviceId, address indexed owner, bytes32 indexed tdHash, bytes td,
        string tangleAddress, uint80 reservePrice, uint8 mechanism);
    /// @notice A device was checked out; it is no longer offered.
    event DeviceCheckedOut(bytes32 indexed deviceId, address indexed owner);
    /// @notice A device changed hands.
    event DeviceTransferred(bytes32 indexed deviceId, address indexed from, address indexed to);
    /// @notice An allow-listed OEM's signature over the device id, owner and signing key was verified.
    event DeviceAttested(bytes32 indexed deviceId, address indexed oem);
    /// @notice Governance added (`allowed`) or removed an OEM signing address.
    event OemAllowed(address indexed oem, bool allowed);
    /// @notice Governance moved to a new address.
    event GovernanceTransferred(address indexed from, address indexed to);
    /// @notice Governance named the auction house told of check-outs and transfers.
    event HouseSet(address indexed house);

    /// @notice The device id is already checked in (or owned by someone else).
    error DeviceAlreadyRegistered(bytes32 deviceId, address owner);
    /// @notice No device has this id.
    error UnknownDevice(bytes32 deviceId);
    /// @notice The caller does not own the device.
    error NotDeviceOwner(bytes32 deviceId, address caller, address owner);
    /// @notice The device is checked out.
    error DeviceInactive(bytes32 deviceId);
    /// @notice The hash given is not keccak256 of the TD bytes.
    error TdHashMismatch(bytes32 deviceId, bytes32 given, bytes32 computed);
    /// @notice The TD bytes are empty or larger than the limit.
    error TdSize(bytes32 deviceId, uint256 size, uint256 limit);
    /// @notice The device id, a key or the new owner is zero.
    error ZeroValue(string what);
    /// @notice The check-in is not signed by the device key `deviceId` stands for.
    /// @param deviceId the id checked in
    /// @param signer who signed the check-in instead
    error NotDeviceKey(bytes32 deviceId, address signer);
    /// @notice The auction house is already set (it is set once).
    error HouseAlreadySet(address house);
    /// @notice A batch is empty or larger than the limit.
    error BatchSize(uint256 size, uint256 limit);
    /// @notice The signature does not come from an allow-listed OEM.
    error NotAllowedOem(address signer);
    /// @notice The caller is not governance.
    error NotGovernance(address caller);

    constructor() {
        _governance = msg.sender;
        emit GovernanceTransferred(address(0), msg.sender);
    }

    modifier onlyGovernance() {
        if (msg.sender != _governance) revert NotGovernance(msg.sender);
        _;
    }

    // ------------------------------------------------------------------ owners

    /// @notice Check in one device for the caller, with the device key's proof of control.
    /// @param c the device: id (= device key address, then 12 zero bytes), TD hash and bytes, X25519 key,
    ///        Ed25519 token-signing key, tangle address, reserve price, mechanism code and the
    ///        device key's signature over checkInDigest(id, caller, x25519Key, signingKey)
    function checkIn(CheckIn calldata c) external {
        _checkIn(c);
    }

    /// @notice Check in a fleet of devices in one transaction; all or nothing.
    /// @param items the devices (1..200)
    function checkInBatch(CheckIn[] calldata items) external {
        uint256 n = items.length;
        if (n == 0 || n > MAX_BATCH) revert BatchSize(n, MAX_BATCH);
        for (uint256 i = 0; i < n; ++i) {
            _checkIn(items[i]);
        }
    }

    /// @notice Replace a device's TD, tangle address, reserve price and mechanism (owner only).
    /// @param deviceId the device
    /// @param tdHash keccak256 of `td`
    /// @param td the new canonical TD bytes
    /// @param tangleAddress the tangle address
    /// @param reservePrice reserve price in wei
    /// @param mechanism auction mechanism code
    function update(bytes32 deviceId, bytes32 tdHash, bytes calldata td, string calldata tangleAddress,
        uint80 reservePrice, uint8 mechanism) external {
        Record storage r = _owned(deviceId);
        if (r.flags & FLAG_ACTIVE == 0) revert DeviceInactive(deviceId);
        _checkTd(deviceId, tdHash, td);
        r.reservePrice = reservePrice;
        r.mechanism = mechanism;
        emit DeviceUpdated(deviceId, msg.sender, tdHash, td, tangleAddress, reservePrice, mechanism);
    }

    /// @notice Check a device out (owner only); it keeps its owner and may be checked in again.
    /// @param deviceId the device
    function checkOut(bytes32 deviceId) external {
        Record storage r = _owned(deviceId);
        if (r.flags & FLAG_ACTIVE == 0) revert DeviceInactive(deviceId);
        r.flags &= ~FLAG_ACTIVE;
        emit DeviceCheckedOut(deviceId, msg.sender);
        // Consent ends now: the house cancels the device's running auction with full refunds.
        IDeviceHooks house = _house;
        if (address(house) != address(0)) house.onCheckOut(deviceId);
    }

    /// @notice Give a device to `to` (owner only). The attestation named the old owner, so it
    ///         is cleared. Refused (by the house, `AuctionRunning`) while an auction of the device
    ///         runs: the bidders bid on this seller's terms (see docs/auction.md).
    /// @param deviceId the device
    /// @param to the new owner (non-zero)
    function transferDevice(bytes32 deviceId, address to) external {
        Record storage r = _owned(deviceId);
        if (to == address(0)) revert ZeroValue("to");
        r.owner = to;
        r.flags &= ~FLAG_ATTESTED;
        emit DeviceTransferred(deviceId, msg.sender, to);
        IDeviceHooks house = _house;
        if (address(house) != address(0)) house.onTransfer(deviceId, msg.sender, to);
    }

    /// @notice Record an OEM attestation: an allow-listed OEM's EIP-191 signature over
    ///         keccak256(tag, chainid, this registry, deviceId, owner, signingKey). Anyone may
    ///         submit it; it attests this owner's record only.
    /// @param deviceId the device
    /// @param signature 65-byte (r, s, v) signature
    function attest(bytes32 deviceId, bytes calldata signature) external {
        Record storage r = _devices[deviceId];
        if (r.owner == address(0)) revert UnknownDevice(deviceId);
        address signer = Signatures.recover(attestationDigest(deviceId, r.owner, r.signingKey), signature);
        if (!_oems[signer]) revert NotAllowedOem(signer);
        r.flags |= FLAG_ATTESTED;
        emit DeviceAttested(deviceId, signer);
    }

    // -------------------------------------------------------------- governance

    /// @notice Allow (or stop allowing) `oem` to attest devices (governance only).
    /// @param oem the OEM's signing address
    /// @param allowed true to allow
    function setOem(address oem, bool allowed) external onlyGovernance {
        if (oem == address(0)) revert ZeroValue("oem");
        _oems[oem] = allowed;
        emit OemAllowed(oem, allowed);
    }

    /// @notice Name the auction house told of check-outs and transfers (governance only, once:
    ///         a later house could not cancel the auctions of the first).
    /// @param house the AuctionHouse
    function setHouse(IDeviceHooks house) external onlyGovernance {
        if (address(house) == address(0)) revert ZeroValue("house");
        if (address(_house) != address(0)) revert HouseAlreadySet(address(_house));
        _house = house;
        emit HouseSet(address(house));
    }

    /// @notice Hand governance to `to` (governance only).
    /// @param to the new governance address (non-zero)
    function transferGovernance(address to) external onlyGovernance {
        if (to == address(0)) revert ZeroValue("governance");
        emit GovernanceTransferred(_governance, to);
        _governance = to;
    }

    // ------------------------------------------------------------------- views

    /// @inheritdoc IDeviceRegistry
    function ownerOf(bytes32 deviceId) external view returns (address) {
        return _devices[deviceId].owner;
    }

    /// @inheritdoc IDeviceRegistry
    function isActive(bytes32 deviceId) external view returns (bool) {
        return _devices[deviceId].flags & FLAG_ACTIVE != 0;
    }

    /// @notice True once an allow-listed OEM attested the device's current owner and key.
    /// @param deviceId the device
    function isAttested(bytes32 deviceId) external view returns (bool) {
        return _devices[deviceId].flags & FLAG_ATTESTED != 0;
    }

    /// @notice Everything stored about a device (owner zero if unknown).
    /// @param deviceId the device
    function device(bytes32 deviceId) external view returns (DeviceView memory v) {
        Record storage r = _devices[deviceId];
        v = DeviceView(r.owner, r.reservePrice, r.mechanism, r.flags & FLAG_ACTIVE != 0,
            r.flags & FLAG_ATTESTED != 0, r.signingKey);
    }

    /// @notice The device's Ed25519 token-signing public key (buyers verify access keys against it).
    /// @param deviceId the device
    function signingKeyOf(bytes32 deviceId) external view returns (bytes32) {
        return _devices[deviceId].signingKey;
    }

    /// @notice The auction house told of check-outs and transfers (zero until set).
    function house() external view returns (address) {
        return address(_house);
    }

    /// @notice True if `oem` is allow-listed.
    /// @param oem an address
    function isOem(address oem) external view returns (bool) {
        return _oems[oem];
    }

    /// @notice The governance address.
    function governance() external view returns (address) {
        return _governance;
    }

    /// @notice The EIP-191 digest an OEM signs to attest `owner`'s record of `deviceId` with `signingKey`.
    /// @param deviceId the device
    /// @param owner the owner the attestation is for
    /// @param signingKey the device's Ed25519 token-signing key
    function attestationDigest(bytes32 deviceId, address owner, bytes32 signingKey) public view returns (bytes32) {
        return Signatures.ethSigned(keccak256(abi.encode(ATTEST_TAG, block.chainid, address(this), deviceId, owner, signingKey)));
    }

    /// @notice The EIP-191 digest the device key signs to check the device in for `owner`.
    /// @param deviceId the device (= its device key address, then 12 zero bytes)
    /// @param owner the account that will own the record (the check-in's sender)
    /// @param x25519Key the device's X25519 key
    /// @param signingKey the device's Ed25519 token-signing key
    function checkInDigest(bytes32 deviceId, address owner, bytes32 x25519Key, bytes32 signingKey)
        public
        view
        returns (bytes32)
    {
        return Signatures.ethSigned(
            keccak256(abi.encode(CHECKIN_TAG, block.chainid, address(this), deviceId, owner, x25519Key, signingKey)));
    }

    // ---------------------------------------------------------------- internal

    function _checkIn(CheckIn calldata c) private {
        bytes32 deviceId = c.deviceId;
        if (deviceId == bytes32(0)) revert ZeroValue("deviceId");
        if (c.x25519Key == bytes32(0)) revert ZeroValue("x25519Key");
        if (c.signingKey == bytes32(0)) revert ZeroValue("signingKey");
        Record storage r = _devices[deviceId];
        address owner = r.owner;
        // A checked-out device may come back, but only from its owner.
        if (owner != address(0) && (owner != msg.sender || r.flags & FLAG_ACTIVE != 0)) {
            revert DeviceAlreadyRegistered(deviceId, owner);
        }
        // Proof of control: the device key signed this owner and these keys.
        address signer = Signatures.recover(checkInDigest(deviceId, msg.sender, c.x25519Key, c.signingKey), c.deviceSignature);
        if (Signatures.deviceIdOf(signer) != deviceId) revert NotDeviceKey(deviceId, signer);
        _checkTd(deviceId, c.tdHash, c.td);
        r.owner = msg.sender;
        r.reservePrice = c.reservePrice;
        r.mechanism = c.mechanism;
        r.flags = FLAG_ACTIVE; // a (new) key is not attested yet
        r.signingKey = c.signingKey;
        emit DeviceCheckedIn(deviceId, msg.sender, c.tdHash, c.td, c.x25519Key, c.signingKey, c.tangleAddress,
            c.reservePrice, c.mechanism);
    }

    function _checkTd(bytes32 deviceId, bytes32 tdHash, bytes calldata td) private pure {
        if (td.length == 0 || td.length > MAX_TD_BYTES) revert TdSize(deviceId, td.length, MAX_TD_BYTES);
        bytes32 computed = keccak256(td);
        if (computed != tdHash) revert TdHashMismatch(deviceId, tdHash, computed);
    }

    function _owned(bytes32 deviceId) private view returns (Record storage r) {
        r = _devices[deviceId];
        address owner = r.owner;
        if (owner == address(0)) revert UnknownDevice(deviceId);
        if (owner != msg.sender) revert NotDeviceOwner(deviceId, msg.sender, owner);
    }
}
