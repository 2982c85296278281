// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title IDeviceRegistry
/// @notice What the auction house needs to know about a registered device.
interface IDeviceRegistry {
    /// @notice The current owner of `deviceId` (address(0) if never checked in).
    function ownerOf(bytes32 deviceId) external view returns (address);

    /// @notice True while the device is checked in (not checked out).
    function isActive(bytes32 deviceId) external view returns (bool);
}

/// @title IDeviceHooks
/// @notice What the registry tells the auction house when a device's owner opts out or hands it on,
///         so running auctions follow consent and ownership at once (nobody has to poll).
interface IDeviceHooks {
    /// @notice `deviceId` was checked out: its running auctions are cancelled with full refunds.
    function onCheckOut(bytes32 deviceId) external;

    /// @notice `deviceId` is about to belong to `to`: the house reverts (refusing the transfer)
    ///         while an auction of the device runs.
    function onTransfer(bytes32 deviceId, address from, address to) external;
}
