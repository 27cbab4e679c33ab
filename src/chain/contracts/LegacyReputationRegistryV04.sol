// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

interface IIdentityRegistryForLegacyReputation {
    function ownerOf(uint256 agentId) external view returns (address);
}

/// @title Reputation Registry with the ERC-8004 v0.4 event shapes, for indexer tests of older deployments.
/// @notice v0.4 scores are uint8 (0..100), tags are bytes32 and the feedback event carries no feedbackIndex
///         (it is still counted 1-based per (agentId, client) for revocation). The v0.4 feedbackAuth signature
///         is deliberately left out.
contract LegacyReputationRegistryV04 {
    event NewFeedback(
        uint256 indexed agentId,
        address indexed clientAddress,
        uint8 score,
        bytes32 indexed tag1,
        bytes32 tag2,
        string fileuri,
        bytes32 filehash
    );
    event FeedbackRevoked(uint256 indexed agentId, address indexed clientAddress, uint64 indexed feedbackIndex);
    event ResponseAppended(
        uint256 indexed agentId,
        address indexed clientAddress,
        uint64 feedbackIndex,
        address indexed responder,
        string responseUri,
        bytes32 responseHash
    );

    error InvalidScore(uint8 score);
    error AgentNotFound(uint256 agentId);
    error SelfFeedbackNotAllowed(uint256 agentId);
    error FeedbackNotFound(uint256 agentId, address clientAddress, uint64 feedbackIndex);
    error FeedbackAlreadyRevoked(uint256 agentId, address clientAddress, uint64 feedbackIndex);

    address private immutable _identityRegistry;
    mapping(uint256 => mapping(address => uint64)) private _lastIndex;
    mapping(uint256 => mapping(address => mapping(uint64 => bool))) private _revoked;

    constructor(address identityRegistry) {
        _identityRegistry = identityRegistry;
    }

    function getIdentityRegistry() external view returns (address) {
        return _identityRegistry;
    }

    function giveFeedback(
        uint256 agentId,
        uint8 score,
        bytes32 tag1,
        bytes32 tag2,
        string calldata fileuri,
        bytes32 filehash
    ) external {
        if (score > 100) revert InvalidScore(score);
        if (msg.sender == _ownerOf(agentId)) revert SelfFeedbackNotAllowed(agentId);
        _lastIndex[agentId][msg.sender] += 1;
        emit NewFeedback(agentId, msg.sender, score, tag1, tag2, fileuri, filehash);
    }

    function revokeFeedback(uint256 agentId, uint64 feedbackIndex) external {
        if (feedbackIndex == 0 || feedbackIndex > _lastIndex[agentId][msg.sender]) {
            revert FeedbackNotFound(agentId, msg.sender, feedbackIndex);
        }
        if (_revoked[agentId][msg.sender][feedbackIndex]) {
            revert FeedbackAlreadyRevoked(agentId, msg.sender, feedbackIndex);
        }
        _revoked[agentId][msg.sender][feedbackIndex] = true;
        emit FeedbackRevoked(agentId, msg.sender, feedbackIndex);
    }

    function appendResponse(
        uint256 agentId,
        address clientAddress,
        uint64 feedbackIndex,
        string calldata responseUri,
        bytes32 responseHash
    ) external {
        if (feedbackIndex == 0 || feedbackIndex > _lastIndex[agentId][clientAddress]) {
            revert FeedbackNotFound(agentId, clientAddress, feedbackIndex);
        }
        emit ResponseAppended(agentId, clientAddress, feedbackIndex, msg.sender, responseUri, responseHash);
    }

    function getLastIndex(uint256 agentId, address clientAddress) external view returns (uint64) {
        return _lastIndex[agentId][clientAddress];
    }

    function _ownerOf(uint256 agentId) private view returns (address) {
        try IIdentityRegistryForLegacyReputation(_identityRegistry).ownerOf(agentId) returns (address owner) {
            if (owner == address(0)) revert AgentNotFound(agentId);
            return owner;
        } catch {
            revert AgentNotFound(agentId);
        }
    }
}
