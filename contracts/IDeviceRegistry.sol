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
