// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title The part of Multicall3 that x402's EVM verifier uses: tryAggregate.
/// @notice anvil has no Multicall3 at its canonical address (0xcA11bde05977b3631167028862bE2a173976CA11); tests copy
///         this contract's code there, so that a refused payment names its reason (nonce used, balance) instead of
///         "simulation failed".
contract TestMulticall3 {
    struct Call {
        address target;
        bytes callData;
    }

    struct Result {
        bool success;
        bytes returnData;
    }

    function tryAggregate(bool requireSuccess, Call[] calldata calls) external payable returns (Result[] memory results) {
        results = new Result[](calls.length);
        for (uint256 i = 0; i < calls.length; i++) {
            (bool success, bytes memory returnData) = calls[i].target.call(calls[i].callData);
            require(success || !requireSuccess, "Multicall3: call failed");
            results[i] = Result(success, returnData);
        }
    }
}
