// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice The few forge cheatcodes the invariant suite uses (written here instead of pulling
///         forge-std: no git submodules, and npm carries only an unofficial copy).
interface Vm {
    function warp(uint256 newTimestamp) external;
    function prank(address msgSender) external;
    function deal(address account, uint256 newBalance) external;
    function addr(uint256 privateKey) external pure returns (address);
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);
    function snapshotState() external returns (uint256 snapshotId);
    function revertToState(uint256 snapshotId) external returns (bool success);
    function writeLine(string calldata path, string calldata data) external;
    function envOr(string calldata name, string calldata defaultValue) external view returns (string memory value);
    function toString(uint256 value) external pure returns (string memory);
    function label(address account, string calldata newLabel) external;
}

/// @notice What forge reads from an invariant test contract to pick its targets.
struct FuzzSelector {
    address addr;
    bytes4[] selectors;
}

address constant VM_ADDRESS = address(uint160(uint256(keccak256("hevm cheat code"))));
