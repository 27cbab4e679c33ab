// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.30;

/// @title Minimal ERC-8004 v1.0 Identity Registry for tests.
/// @notice A small ERC-721-like core (no OpenZeppelin) that emits exactly the v1.0 events, in the order of the
///         official deployment: register emits Transfer(0 -> owner), MetadataUpdate (ERC-4906), Registered,
///         MetadataSet("agentWallet", owner), then one MetadataSet per extra entry.
contract IdentityRegistry {
    struct MetadataEntry {
        string metadataKey;
        bytes metadataValue;
    }

    // ERC-721
    event Transfer(address indexed from, address indexed to, uint256 indexed tokenId);
    // ERC-4906
    event MetadataUpdate(uint256 _tokenId);
    // ERC-8004 v1.0
    event Registered(uint256 indexed agentId, string agentURI, address indexed owner);
    event MetadataSet(uint256 indexed agentId, string indexed indexedMetadataKey, string metadataKey, bytes metadataValue);
    event URIUpdated(uint256 indexed agentId, string newURI, address indexed updatedBy);

    error AgentNotFound(uint256 agentId);
    error NotAgentOwner(uint256 agentId, address caller);
    error InvalidTransfer();
    error ReservedMetadataKey(string metadataKey);

    string public constant name = "ERC-8004 Agent";
    string public constant symbol = "AGENT";
    string private constant AGENT_WALLET_KEY = "agentWallet";

    uint256 private _nextAgentId; // agentId starts at 0
    mapping(uint256 => address) private _owners;
    mapping(address => uint256) private _balances;
    mapping(uint256 => string) private _uris;
    mapping(uint256 => mapping(string => bytes)) private _metadata;

    // ---------------------------------------------------------------- registration

    function register() external returns (uint256 agentId) {
        agentId = _register(msg.sender, "");
    }

    function register(string calldata agentURI) external returns (uint256 agentId) {
        agentId = _register(msg.sender, agentURI);
    }

    function register(string calldata agentURI, MetadataEntry[] calldata metadata) external returns (uint256 agentId) {
        agentId = _register(msg.sender, agentURI);
        for (uint256 i = 0; i < metadata.length; i++) {
            _setMetadata(agentId, metadata[i].metadataKey, metadata[i].metadataValue);
        }
    }

    function _register(address owner, string memory agentURI) private returns (uint256 agentId) {
        agentId = _nextAgentId++;
        _owners[agentId] = owner;
        unchecked {
            _balances[owner] += 1;
        }
        _uris[agentId] = agentURI;
        emit Transfer(address(0), owner, agentId);
        emit MetadataUpdate(agentId);
        emit Registered(agentId, agentURI, owner);
        _writeMetadata(agentId, AGENT_WALLET_KEY, abi.encodePacked(owner));
    }

    // ---------------------------------------------------------------- URI and metadata

    function setAgentURI(uint256 agentId, string calldata newURI) external {
        _requireOwner(agentId);
        _uris[agentId] = newURI;
        emit URIUpdated(agentId, newURI, msg.sender);
    }

    function setMetadata(uint256 agentId, string calldata metadataKey, bytes calldata metadataValue) external {
        _requireOwner(agentId);
        _setMetadata(agentId, metadataKey, metadataValue);
    }

    /// @notice Points agentWallet at another address. Test registry: the owner sets it directly; the official v1.0
    ///         registry also asks for the new wallet's signature and a deadline. The event is the same.
    function setAgentWallet(uint256 agentId, address newWallet) external {
        _requireOwner(agentId);
        _writeMetadata(agentId, AGENT_WALLET_KEY, abi.encodePacked(newWallet));
    }

    function getMetadata(uint256 agentId, string calldata metadataKey) external view returns (bytes memory) {
        _requireExists(agentId);
        return _metadata[agentId][metadataKey];
    }

    function getAgentWallet(uint256 agentId) external view returns (address) {
        _requireExists(agentId);
        bytes memory raw = _metadata[agentId][AGENT_WALLET_KEY];
        if (raw.length != 20) return address(0);
        return address(bytes20(raw));
    }

    function _setMetadata(uint256 agentId, string memory metadataKey, bytes memory metadataValue) private {
        if (keccak256(bytes(metadataKey)) == keccak256(bytes(AGENT_WALLET_KEY))) revert ReservedMetadataKey(metadataKey);
        _writeMetadata(agentId, metadataKey, metadataValue);
    }

    function _writeMetadata(uint256 agentId, string memory metadataKey, bytes memory metadataValue) private {
        _metadata[agentId][metadataKey] = metadataValue;
        emit MetadataSet(agentId, metadataKey, metadataKey, metadataValue);
    }

    // ---------------------------------------------------------------- ERC-721 core (owner-only transfers)

    function ownerOf(uint256 agentId) public view returns (address owner) {
        owner = _owners[agentId];
        if (owner == address(0)) revert AgentNotFound(agentId);
    }

    function balanceOf(address owner) external view returns (uint256) {
        return _balances[owner];
    }

    function tokenURI(uint256 agentId) external view returns (string memory) {
        _requireExists(agentId);
        return _uris[agentId];
    }

    function totalSupply() external view returns (uint256) {
        return _nextAgentId;
    }

    function transferFrom(address from, address to, uint256 agentId) public {
        address owner = ownerOf(agentId);
        if (msg.sender != owner) revert NotAgentOwner(agentId, msg.sender);
        if (from != owner || to == address(0)) revert InvalidTransfer();
        // The agent wallet does not follow the token: clear it first, like the official registry.
        _writeMetadata(agentId, AGENT_WALLET_KEY, "");
        unchecked {
            _balances[from] -= 1;
            _balances[to] += 1;
        }
        _owners[agentId] = to;
        emit Transfer(from, to, agentId);
    }

    function safeTransferFrom(address from, address to, uint256 agentId) external {
        transferFrom(from, to, agentId);
    }

    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == 0x01ffc9a7 // ERC-165
            || interfaceId == 0x80ac58cd // ERC-721
            || interfaceId == 0x5b5e139f // ERC-721 metadata
            || interfaceId == 0x49064906; // ERC-4906
    }

    // ---------------------------------------------------------------- helpers

    function _requireExists(uint256 agentId) private view {
        if (_owners[agentId] == address(0)) revert AgentNotFound(agentId);
    }

    function _requireOwner(uint256 agentId) private view {
        if (msg.sender != ownerOf(agentId)) revert NotAgentOwner(agentId, msg.sender);
    }
}
