// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import "./IDeviceRegistry.sol";

/// @title DeviceRegistry
/// @notice Web-of-Things devices checked in by their owners. The chain keeps two slots per
///         device (owner packed with reserve/mechanism/flags; the X25519 key). The TD hash is
///         checked against the TD bytes and emitted as an indexed topic next to the canonical
///         TD bytes, but not stored: a third slot would put a check-in of a 1.5 KB TD over its
///         120k gas budget, and the log (source of the catalog) already carries it.
contract DeviceRegistry is IDeviceRegistry {
    /// @notice One device in a batch check-in.
    struct CheckIn {
        bytes32 deviceId;
        bytes32 tdHash;
        bytes td;
        bytes32 x25519Key;
        string tangleAddress;
        uint80 reservePrice;
        uint8 mechanism;
    }

    /// @notice What the registry stores per device (returned by `device`).
    struct DeviceView {
        address owner;
        uint80 reservePrice;
        uint8 mechanism;
        bool active;
        bool attested;
        bytes32 x25519Key;
    }

    // Packed into one slot: owner (160) | reservePrice (80) | mechanism (8) | flags (8).
    struct Record {
        address owner;
        uint80 reservePrice;
        uint8 mechanism;
        uint8 flags;
        bytes32 x25519Key;
    }

    uint8 private constant FLAG_ACTIVE = 1;
    uint8 private constant FLAG_ATTESTED = 2;
    uint256 private constant MAX_TD_BYTES = 16384;
    uint256 private constant MAX_BATCH = 200;

    mapping(bytes32 => Record) private _devices;
    mapping(address => bool) private _oems;
    address private _governance;

    /// @notice A device was checked in (or re-checked in after a check-out) with its canonical TD.
    event DeviceCheckedIn(bytes32 indexed deviceId, address indexed owner, bytes32 indexed tdHash, bytes td,
        bytes32 x25519Key, string tangleAddress, uint80 reservePrice, uint8 mechanism);
    /// @notice A device's TD, tangle address, reserve price or mechanism was updated.
    event DeviceUpdated(bytes32 indexed deviceId, address indexed owner, bytes32 indexed tdHash, bytes td,
        string tangleAddress, uint80 reservePrice, uint8 mechanism);
    /// @notice A device was checked out; it is no longer offered.
    event DeviceCheckedOut(bytes32 indexed deviceId, address indexed owner);
    /// @notice A device changed hands.
    event DeviceTransferred(bytes32 indexed deviceId, address indexed from, address indexed to);
    /// @notice An allow-listed OEM's signature over the device id and key was verified.
    event DeviceAttested(bytes32 indexed deviceId, address indexed oem);
    /// @notice Governance added (`allowed`) or removed an OEM signing address.
    event OemAllowed(address indexed oem, bool allowed);
    /// @notice Governance moved to a new address.
    event GovernanceTransferred(address indexed from, address indexed to);

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
    /// @notice The device id, key or new owner is zero.
    error ZeroValue(string what);
    /// @notice A batch is empty or larger than the limit.
    error BatchSize(uint256 size, uint256 limit);
    /// @notice The signature does not come from an allow-listed OEM.
    error NotAllowedOem(address signer);
    /// @notice The signature bytes are malformed.
    error BadSignature();
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

    /// @notice Check in one device owned by the caller.
    /// @param deviceId pseudonymous device id (non-zero)
    /// @param tdHash keccak256 of `td` (checked)
    /// @param td canonical Thing Description bytes (emitted, not stored)
    /// @param x25519Key the device's X25519 public key for key delivery
    /// @param tangleAddress the device's tangle address for micro-payments (emitted, not stored)
    /// @param reservePrice reserve price in wei
    /// @param mechanism the auction mechanism code the owner chose
    function checkIn(bytes32 deviceId, bytes32 tdHash, bytes calldata td, bytes32 x25519Key,
        string calldata tangleAddress, uint80 reservePrice, uint8 mechanism) external {
        _checkIn(deviceId, tdHash, td, x25519Key, tangleAddress, reservePrice, mechanism);
    }

    /// @notice Check in a fleet of devices in one transaction; all or nothing.
    /// @param items the devices (1..200)
    function checkInBatch(CheckIn[] calldata items) external {
        uint256 n = items.length;
        if (n == 0 || n > MAX_BATCH) revert BatchSize(n, MAX_BATCH);
        for (uint256 i = 0; i < n; ++i) {
            CheckIn calldata c = items[i];
            _checkIn(c.deviceId, c.tdHash, c.td, c.x25519Key, c.tangleAddress, c.reservePrice, c.mechanism);
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
    }

    /// @notice Give a device to `to` (owner only).
    /// @param deviceId the device
    /// @param to the new owner (non-zero)
    function transferDevice(bytes32 deviceId, address to) external {
        Record storage r = _owned(deviceId);
        if (to == address(0)) revert ZeroValue("to");
        r.owner = to;
        emit DeviceTransferred(deviceId, msg.sender, to);
    }

    /// @notice Record an OEM attestation: an allow-listed OEM's EIP-191 signature over
    ///         keccak256(chainid, this registry, deviceId, x25519Key). Anyone may submit it.
    /// @param deviceId the device
    /// @param signature 65-byte (r, s, v) signature
    function attest(bytes32 deviceId, bytes calldata signature) external {
        Record storage r = _devices[deviceId];
        if (r.owner == address(0)) revert UnknownDevice(deviceId);
        address signer = _recover(attestationDigest(deviceId, r.x25519Key), signature);
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

    /// @notice True once an allow-listed OEM attested the device's current key.
    /// @param deviceId the device
    function isAttested(bytes32 deviceId) external view returns (bool) {
        return _devices[deviceId].flags & FLAG_ATTESTED != 0;
    }

    /// @notice Everything stored about a device (owner zero if unknown).
    /// @param deviceId the device
    function device(bytes32 deviceId) external view returns (DeviceView memory v) {
        Record storage r = _devices[deviceId];
        v = DeviceView(r.owner, r.reservePrice, r.mechanism, r.flags & FLAG_ACTIVE != 0,
            r.flags & FLAG_ATTESTED != 0, r.x25519Key);
    }

    /// @notice The device's X25519 public key.
    /// @param deviceId the device
    function keyOf(bytes32 deviceId) external view returns (bytes32) {
        return _devices[deviceId].x25519Key;
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

    /// @notice The EIP-191 digest an OEM signs to attest `deviceId` with `x25519Key`.
    /// @param deviceId the device
    /// @param x25519Key the device's key
    function attestationDigest(bytes32 deviceId, bytes32 x25519Key) public view returns (bytes32) {
        bytes32 inner = keccak256(abi.encode(block.chainid, address(this), deviceId, x25519Key));
        return keccak256(abi.encodePacked("\x19Ethereum Signed Message:\n32", inner));
    }

    // ---------------------------------------------------------------- internal

    function _checkIn(bytes32 deviceId, bytes32 tdHash, bytes calldata td, bytes32 x25519Key,
        string calldata tangleAddress, uint80 reservePrice, uint8 mechanism) private {
        if (deviceId == bytes32(0)) revert ZeroValue("deviceId");
        if (x25519Key == bytes32(0)) revert ZeroValue("x25519Key");
        Record storage r = _devices[deviceId];
        address owner = r.owner;
        // A checked-out device may come back, but only from its owner.
        if (owner != address(0) && (owner != msg.sender || r.flags & FLAG_ACTIVE != 0)) {
            revert DeviceAlreadyRegistered(deviceId, owner);
        }
        _checkTd(deviceId, tdHash, td);
        r.owner = msg.sender;
        r.reservePrice = reservePrice;
        r.mechanism = mechanism;
        r.flags = FLAG_ACTIVE; // a (new) key is not attested yet
        r.x25519Key = x25519Key;
        emit DeviceCheckedIn(deviceId, msg.sender, tdHash, td, x25519Key, tangleAddress, reservePrice, mechanism);
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

    function _recover(bytes32 digest, bytes calldata sig) private pure returns (address signer) {
        if (sig.length != 65) revert BadSignature();
        bytes32 r = bytes32(sig[0:32]);
        bytes32 s = bytes32(sig[32:64]);
        uint8 v = uint8(sig[64]);
        // Reject malleable high-s signatures (EIP-2).
        if (uint256(s) > 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0) revert BadSignature();
        if (v < 27) v += 27;
        signer = ecrecover(digest, v, r, s);
        if (signer == address(0)) revert BadSignature();
    }
}
