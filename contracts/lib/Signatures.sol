// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Signatures
/// @notice EIP-191 digests and strict ECDSA recovery shared by the registry and the house.
library Signatures {
    /// @notice The signature is not 65 bytes, has a high s (EIP-2 malleability) or recovers to nobody.
    /// @param length the signature's length in bytes
    error BadSignature(uint256 length);

    /// @notice keccak256("\x19Ethereum Signed Message:\n32" ++ inner): what `personal_sign` of 32 bytes signs.
    function ethSigned(bytes32 inner) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked("\x19Ethereum Signed Message:\n32", inner));
    }

    /// @notice The signer of `digest`; reverts BadSignature on anything but a canonical 65-byte signature.
    function recover(bytes32 digest, bytes calldata sig) internal pure returns (address signer) {
        if (sig.length != 65) revert BadSignature(sig.length);
        bytes32 r = bytes32(sig[0:32]);
        bytes32 s = bytes32(sig[32:64]);
        uint8 v = uint8(sig[64]);
        // Reject malleable high-s signatures (EIP-2).
        if (uint256(s) > 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0) revert BadSignature(65);
        if (v < 27) v += 27;
        signer = ecrecover(digest, v, r, s);
        if (signer == address(0)) revert BadSignature(65);
    }

    /// @notice The device id a device key stands for: its 20-byte address followed by 12 zero bytes
    ///         (address first, so short id prefixes shown to people stay distinct).
    function deviceIdOf(address deviceKey) internal pure returns (bytes32) {
        return bytes32(bytes20(deviceKey));
    }
}
