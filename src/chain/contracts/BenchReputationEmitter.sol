// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title Dev-only load generator for the ingestion benchmark (test/bench/ingest.ts).
/// @notice Emits ERC-8004 v1.0 `NewFeedback` events in bulk — the same event signature as ReputationRegistry, hence
///         the same topic0 — without storage writes or agent checks, so tens of thousands of events fit in a few
///         transactions. Never deploy this anywhere but a local dev chain: its events are not real feedback.
contract BenchReputationEmitter {
    event NewFeedback(
        uint256 indexed agentId,
        address indexed clientAddress,
        uint64 feedbackIndex,
        int128 value,
        uint8 valueDecimals,
        string indexed indexedTag1,
        string tag1,
        string tag2,
        string endpoint,
        string feedbackURI,
        bytes32 feedbackHash
    );

    /// @notice Emits `count` NewFeedback events for `agentId` from msg.sender, with feedbackIndex firstIndex,
    ///         firstIndex + 1, … and values, decimals and tags varying a little from one event to the next.
    function emitFeedbackBatch(uint256 agentId, uint256 count, int128 baseValue, uint64 firstIndex) external {
        for (uint256 i = 0; i < count; i++) {
            string memory tag1 = i % 3 == 0 ? "starred" : (i % 3 == 1 ? "uptime" : "latency");
            string memory tag2 = i % 2 == 0 ? "day" : "week";
            emit NewFeedback(
                agentId,
                msg.sender,
                firstIndex + uint64(i),
                baseValue + int128(int256(i % 97)),
                uint8(i % 3),
                tag1,
                tag1,
                tag2,
                "https://agent.example/mcp",
                "ipfs://bafybeibenchfeedbackfeedbackfeedbackfeedbackfeedbackfeedback",
                keccak256(abi.encode(firstIndex, i))
            );
        }
    }
}
