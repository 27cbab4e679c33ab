// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

interface IIdentityRegistryForValidation {
    function ownerOf(uint256 agentId) external view returns (address);
}

/// @title Minimal ERC-8004 v1.0 Validation Registry for tests.
contract ValidationRegistry {
    event ValidationRequest(
        address indexed validatorAddress, uint256 indexed agentId, string requestURI, bytes32 indexed requestHash
    );
    event ValidationResponse(
        address indexed validatorAddress,
        uint256 indexed agentId,
        bytes32 indexed requestHash,
        uint8 response,
        string responseURI,
        bytes32 responseHash,
        string tag
    );

    error AgentNotFound(uint256 agentId);
    error NotAgentOwner(uint256 agentId, address caller);
    error InvalidValidator();
    error RequestAlreadyExists(bytes32 requestHash);
    error RequestNotFound(bytes32 requestHash);
    error NotValidator(bytes32 requestHash, address caller);
    error InvalidResponse(uint8 response);

    struct Status {
        address validatorAddress;
        uint256 agentId;
        uint8 response;
        bytes32 responseHash;
        string tag;
        uint256 lastUpdate;
        bool hasResponse;
    }

    address private immutable _identityRegistry;
    mapping(bytes32 => Status) private _status;
    mapping(uint256 => bytes32[]) private _agentValidations;
    mapping(address => bytes32[]) private _validatorRequests;

    constructor(address identityRegistry) {
        _identityRegistry = identityRegistry;
    }

    function getIdentityRegistry() external view returns (address) {
        return _identityRegistry;
    }

    function validationRequest(
        address validatorAddress,
        uint256 agentId,
        string calldata requestURI,
        bytes32 requestHash
    ) external {
        if (validatorAddress == address(0)) revert InvalidValidator();
        if (msg.sender != _ownerOf(agentId)) revert NotAgentOwner(agentId, msg.sender);
        if (_status[requestHash].validatorAddress != address(0)) revert RequestAlreadyExists(requestHash);

        Status storage s = _status[requestHash];
        s.validatorAddress = validatorAddress;
        s.agentId = agentId;
        s.lastUpdate = block.timestamp;
        _agentValidations[agentId].push(requestHash);
        _validatorRequests[validatorAddress].push(requestHash);

        emit ValidationRequest(validatorAddress, agentId, requestURI, requestHash);
    }

    function validationResponse(
        bytes32 requestHash,
        uint8 response,
        string calldata responseURI,
        bytes32 responseHash,
        string calldata tag
    ) external {
        Status storage s = _status[requestHash];
        if (s.validatorAddress == address(0)) revert RequestNotFound(requestHash);
        if (msg.sender != s.validatorAddress) revert NotValidator(requestHash, msg.sender);
        if (response > 100) revert InvalidResponse(response);

        s.response = response;
        s.responseHash = responseHash;
        s.tag = tag;
        s.lastUpdate = block.timestamp;
        s.hasResponse = true;

        emit ValidationResponse(s.validatorAddress, s.agentId, requestHash, response, responseURI, responseHash, tag);
    }

    function getValidationStatus(bytes32 requestHash)
        external
        view
        returns (
            address validatorAddress,
            uint256 agentId,
            uint8 response,
            bytes32 responseHash,
            string memory tag,
            uint256 lastUpdate
        )
    {
        Status storage s = _status[requestHash];
        if (s.validatorAddress == address(0)) revert RequestNotFound(requestHash);
        return (s.validatorAddress, s.agentId, s.response, s.responseHash, s.tag, s.lastUpdate);
    }

    function getAgentValidations(uint256 agentId) external view returns (bytes32[] memory) {
        return _agentValidations[agentId];
    }

    function getValidatorRequests(address validatorAddress) external view returns (bytes32[] memory) {
        return _validatorRequests[validatorAddress];
    }

    function _ownerOf(uint256 agentId) private view returns (address) {
        try IIdentityRegistryForValidation(_identityRegistry).ownerOf(agentId) returns (address owner) {
            if (owner == address(0)) revert AgentNotFound(agentId);
            return owner;
        } catch {
            revert AgentNotFound(agentId);
        }
    }
}
