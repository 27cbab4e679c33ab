// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

interface IIdentityRegistryForReputation {
    function ownerOf(uint256 agentId) external view returns (address);
}

/// @title Minimal ERC-8004 v1.0 Reputation Registry for tests.
/// @notice Feedback carries a signed int128 value with 0..18 decimals; feedbackIndex is 1-based per (agentId, client).
contract ReputationRegistry {
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
    event FeedbackRevoked(uint256 indexed agentId, address indexed clientAddress, uint64 indexed feedbackIndex);
    event ResponseAppended(
        uint256 indexed agentId,
        address indexed clientAddress,
        uint64 feedbackIndex,
        address indexed responder,
        string responseURI,
        bytes32 responseHash
    );

    error InvalidValueDecimals(uint8 valueDecimals);
    error AgentNotFound(uint256 agentId);
    error SelfFeedbackNotAllowed(uint256 agentId);
    error FeedbackNotFound(uint256 agentId, address clientAddress, uint64 feedbackIndex);
    error FeedbackAlreadyRevoked(uint256 agentId, address clientAddress, uint64 feedbackIndex);

    struct Feedback {
        int128 value;
        uint8 valueDecimals;
        bool isRevoked;
        string tag1;
        string tag2;
    }

    address private immutable _identityRegistry;

    mapping(uint256 => mapping(address => Feedback[])) private _feedback; // index i holds feedbackIndex i + 1
    mapping(uint256 => address[]) private _clients;

    constructor(address identityRegistry) {
        _identityRegistry = identityRegistry;
    }

    function getIdentityRegistry() external view returns (address) {
        return _identityRegistry;
    }

    function giveFeedback(
        uint256 agentId,
        int128 value,
        uint8 valueDecimals,
        string calldata tag1,
        string calldata tag2,
        string calldata endpoint,
        string calldata feedbackURI,
        bytes32 feedbackHash
    ) external {
        if (valueDecimals > 18) revert InvalidValueDecimals(valueDecimals);
        address owner = _ownerOf(agentId);
        if (msg.sender == owner) revert SelfFeedbackNotAllowed(agentId);

        Feedback[] storage list = _feedback[agentId][msg.sender];
        if (list.length == 0) _clients[agentId].push(msg.sender);
        list.push(Feedback({value: value, valueDecimals: valueDecimals, isRevoked: false, tag1: tag1, tag2: tag2}));
        uint64 feedbackIndex = uint64(list.length);

        emit NewFeedback(
            agentId, msg.sender, feedbackIndex, value, valueDecimals, tag1, tag1, tag2, endpoint, feedbackURI, feedbackHash
        );
    }

    function revokeFeedback(uint256 agentId, uint64 feedbackIndex) external {
        Feedback storage fb = _get(agentId, msg.sender, feedbackIndex);
        if (fb.isRevoked) revert FeedbackAlreadyRevoked(agentId, msg.sender, feedbackIndex);
        fb.isRevoked = true;
        emit FeedbackRevoked(agentId, msg.sender, feedbackIndex);
    }

    function appendResponse(
        uint256 agentId,
        address clientAddress,
        uint64 feedbackIndex,
        string calldata responseURI,
        bytes32 responseHash
    ) external {
        _get(agentId, clientAddress, feedbackIndex);
        emit ResponseAppended(agentId, clientAddress, feedbackIndex, msg.sender, responseURI, responseHash);
    }

    // ---------------------------------------------------------------- reads

    function getLastIndex(uint256 agentId, address clientAddress) external view returns (uint64) {
        return uint64(_feedback[agentId][clientAddress].length);
    }

    function getClients(uint256 agentId) external view returns (address[] memory) {
        return _clients[agentId];
    }

    function readFeedback(uint256 agentId, address clientAddress, uint64 feedbackIndex)
        external
        view
        returns (int128 value, uint8 valueDecimals, string memory tag1, string memory tag2, bool isRevoked)
    {
        Feedback storage fb = _get(agentId, clientAddress, feedbackIndex);
        return (fb.value, fb.valueDecimals, fb.tag1, fb.tag2, fb.isRevoked);
    }

    /// @notice Average of the non-revoked feedback of `clientAddresses` (all clients when empty; the deployed registry
    ///         reverts instead) matching the tags (an empty tag matches any), as the deployed v1.0 registry computes it:
    ///         values normalised to 18 decimals, averaged with truncation, then rescaled to the most frequent
    ///         valueDecimals (the smallest on a tie); (0, 0, 0) when nothing matches.
    function getSummary(uint256 agentId, address[] calldata clientAddresses, string calldata tag1, string calldata tag2)
        external
        view
        returns (uint64 count, int128 summaryValue, uint8 summaryValueDecimals)
    {
        address[] memory clients = clientAddresses;
        if (clients.length == 0) clients = _clients[agentId];
        bool anyTag1 = bytes(tag1).length == 0;
        bool anyTag2 = bytes(tag2).length == 0;
        bytes32 t1 = keccak256(bytes(tag1));
        bytes32 t2 = keccak256(bytes(tag2));
        int256 sum;
        uint64[19] memory decimalCounts;
        for (uint256 c = 0; c < clients.length; c++) {
            Feedback[] storage list = _feedback[agentId][clients[c]];
            for (uint256 i = 0; i < list.length; i++) {
                Feedback storage fb = list[i];
                if (fb.isRevoked) continue;
                if (!anyTag1 && keccak256(bytes(fb.tag1)) != t1) continue;
                if (!anyTag2 && keccak256(bytes(fb.tag2)) != t2) continue;
                sum += int256(fb.value) * int256(10 ** (18 - uint256(fb.valueDecimals)));
                decimalCounts[fb.valueDecimals]++;
                count++;
            }
        }
        if (count == 0) return (0, 0, 0);
        uint64 maxCount;
        for (uint8 d = 0; d <= 18; d++) {
            if (decimalCounts[d] > maxCount) {
                maxCount = decimalCounts[d];
                summaryValueDecimals = d;
            }
        }
        int256 avgWad = sum / int256(uint256(count));
        summaryValue = int128(avgWad / int256(10 ** (18 - uint256(summaryValueDecimals))));
    }

    // ---------------------------------------------------------------- helpers

    function _get(uint256 agentId, address clientAddress, uint64 feedbackIndex) private view returns (Feedback storage) {
        Feedback[] storage list = _feedback[agentId][clientAddress];
        if (feedbackIndex == 0 || feedbackIndex > list.length) {
            revert FeedbackNotFound(agentId, clientAddress, feedbackIndex);
        }
        return list[feedbackIndex - 1];
    }

    function _ownerOf(uint256 agentId) private view returns (address) {
        try IIdentityRegistryForReputation(_identityRegistry).ownerOf(agentId) returns (address owner) {
            if (owner == address(0)) revert AgentNotFound(agentId);
            return owner;
        } catch {
            revert AgentNotFound(agentId);
        }
    }
}
