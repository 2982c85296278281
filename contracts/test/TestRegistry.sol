// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IDeviceRegistry} from "../IDeviceRegistry.sol";

/// @title TestRegistry
/// @notice A minimal IDeviceRegistry for unit tests of the auction house: anyone may set a device.
contract TestRegistry is IDeviceRegistry {
    mapping(bytes32 => address) private _owners;
    mapping(bytes32 => bool) private _active;

    /// @notice A device's owner or activity changed.
    event DeviceSet(bytes32 indexed deviceId, address owner, bool active);

    /// @notice Set `deviceId`'s owner and activity (test helper).
    function setDevice(bytes32 deviceId, address owner, bool active) external {
        _owners[deviceId] = owner;
        _active[deviceId] = active;
        emit DeviceSet(deviceId, owner, active);
    }

    /// @inheritdoc IDeviceRegistry
    function ownerOf(bytes32 deviceId) external view returns (address) {
        return _owners[deviceId];
    }

    /// @inheritdoc IDeviceRegistry
    function isActive(bytes32 deviceId) external view returns (bool) {
        return _active[deviceId];
    }
}
