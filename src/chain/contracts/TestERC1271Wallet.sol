// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title A smart-contract wallet for tests: it holds tokens and accepts a signature (ERC-1271) when its one signer
///        signed the hash. Enough to own an agent and prove it the way a Safe-like wallet does.
contract TestERC1271Wallet {
    bytes4 private constant MAGIC_VALUE = 0x1626ba7e; // bytes4(keccak256("isValidSignature(bytes32,bytes)"))
    bytes4 private constant INVALID = 0xffffffff;
    // secp256k1n / 2: signatures with a higher s are malleable copies (EIP-2).
    uint256 private constant HALF_CURVE_ORDER = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    address public immutable signer;

    constructor(address signer_) {
        signer = signer_;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        if (signature.length != 65) return INVALID;
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (v < 27) v += 27;
        if (uint256(s) > HALF_CURVE_ORDER) return INVALID;
        address recovered = ecrecover(hash, v, r, s);
        return recovered != address(0) && recovered == signer ? MAGIC_VALUE : INVALID;
    }

    /// @notice Calls another contract as this wallet (the signer only): e.g. transfer the agent it owns.
    function execute(address target, bytes calldata data) external returns (bytes memory) {
        require(msg.sender == signer, "not the signer");
        (bool ok, bytes memory result) = target.call(data);
        require(ok, "call failed");
        return result;
    }
}
