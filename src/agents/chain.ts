/**
 * What the chain says about an agent's control: its ERC-721 owner and its agentWallet, read at one block from the
 * chain's identity registry; and whether a signature over a link challenge is one of theirs — EOA signatures and
 * smart-contract wallets alike (viem's public-client verification calls ERC-1271 `isValidSignature` on a contract).
 */
import {
  BaseError,
  ContractFunctionRevertedError,
  ContractFunctionZeroDataError,
  getAddress,
  HttpRequestError,
  RpcRequestError,
  TimeoutError,
  isAddressEqual,
  parseAbi,
  zeroAddress,
  type Address,
  type Hex,
  type PublicClient,
} from 'viem';
import type { ChainConfig } from '../chain/config.js';
import { createChainClient } from '../indexer/rpc.js';
import { linkMessage, linkTypedData, type LinkChallenge } from './challenge.js';
import { AgentError } from './errors.js';

const identityAbi = parseAbi([
  'function ownerOf(uint256 agentId) view returns (address)',
  'function getMetadata(uint256 agentId, string metadataKey) view returns (bytes)',
  'function getAgentWallet(uint256 agentId) view returns (address)',
]);

export type SignerKind = 'owner' | 'agentWallet';
export type SignatureScheme = 'eip191' | 'eip712';

export interface AgentControl {
  /** The block the answers are as of. */
  block: bigint;
  owner: Address;
  /** The agentWallet metadata; undefined when unset (cleared on transfer) or not an address. */
  agentWallet: Address | undefined;
}

/** The identity registry of a chain the agents of which can be linked: its v1.0 deployment (the newest if several). */
export function identityRegistryOf(chain: ChainConfig): Address | undefined {
  const identity = chain.deployments
    .filter((d) => d.registry === 'identity')
    .sort((a, b) => Number(b.abiVersion === 'v1.0') - Number(a.abiVersion === 'v1.0') || b.firstBlock - a.firstBlock);
  return identity[0]?.address;
}

/** The agentWallet metadata value as an address: 20 bytes (abi.encodePacked), or a 32-byte ABI word. */
export function walletFromMetadata(value: Hex): Address | undefined {
  const bytes = value.slice(2);
  const hex = bytes.length === 40 ? bytes : bytes.length === 64 && /^0{24}/.test(bytes) ? bytes.slice(24) : undefined;
  if (!hex) return undefined;
  const address = getAddress(`0x${hex}`);
  return isAddressEqual(address, zeroAddress) ? undefined : address;
}

/** The call reverted, or the contract has no such function (a fallback that answers nothing). */
const reverted = (err: unknown) =>
  err instanceof BaseError &&
  err.walk((e) => e instanceof ContractFunctionRevertedError || e instanceof ContractFunctionZeroDataError) !== null;

export class AgentChains {
  private readonly clients = new Map<number, PublicClient>();

  constructor(
    private readonly chains: readonly ChainConfig[],
    private readonly clientOf: (chain: ChainConfig) => PublicClient = createChainClient,
  ) {}

  /** The chain and its identity registry; AgentError 'unknown_chain' when it is not configured here. */
  registryOf(chainId: number): { chain: ChainConfig; identityRegistry: Address } {
    const chain = this.chains.find((c) => c.chainId === chainId);
    const identityRegistry = chain && identityRegistryOf(chain);
    if (!chain || !identityRegistry)
      throw new AgentError('unknown_chain', `chain ${chainId} is not configured here (or has no identity registry)`);
    return { chain, identityRegistry };
  }

  private client(chain: ChainConfig): PublicClient {
    let client = this.clients.get(chain.chainId);
    if (!client) this.clients.set(chain.chainId, (client = this.clientOf(chain)));
    return client;
  }

  /** The agent's owner and agentWallet at the chain's current head. */
  async control(chainId: number, agentId: string): Promise<AgentControl> {
    const { chain, identityRegistry } = this.registryOf(chainId);
    const client = this.client(chain);
    try {
      const block = await client.getBlockNumber({ cacheTime: 0 });
      const read = { address: identityRegistry, abi: identityAbi, blockNumber: block } as const;
      const owner = await client.readContract({ ...read, functionName: 'ownerOf', args: [BigInt(agentId)] });
      // The v1.0 getter first; a registry without it keeps the wallet only as `agentWallet` metadata.
      const wallet = await client
        .readContract({ ...read, functionName: 'getAgentWallet', args: [BigInt(agentId)] })
        .catch(async (err: unknown) => {
          if (!reverted(err)) throw err;
          const raw = await client
            .readContract({ ...read, functionName: 'getMetadata', args: [BigInt(agentId), 'agentWallet'] })
            .catch((e: unknown) => {
              // Neither: only the owner can sign.
              if (reverted(e)) return '0x' as Hex;
              throw e;
            });
          return walletFromMetadata(raw) ?? zeroAddress;
        });
      const agentWallet = isAddressEqual(wallet, zeroAddress) ? undefined : getAddress(wallet);
      return { block, owner: getAddress(owner), agentWallet };
    } catch (err) {
      if (reverted(err))
        throw new AgentError(
          'agent_not_found',
          `agent ${agentId} is not registered in ${identityRegistry} on chain ${chainId}`,
        );
      throw new AgentError(
        'chain_unavailable',
        `chain ${chainId}'s RPC did not answer: ${(err as Error).message.split('\n')[0]}`,
      );
    }
  }

  /** Whether `address` (an EOA or an ERC-1271 contract) signed the challenge in the given form, as of `block`. */
  async signedBy(
    challenge: LinkChallenge,
    scheme: SignatureScheme,
    signature: Hex,
    address: Address,
    block: bigint,
  ): Promise<boolean> {
    const client = this.client(this.registryOf(challenge.chainId).chain);
    try {
      return scheme === 'eip191'
        ? await client.verifyMessage({ address, message: linkMessage(challenge), signature, blockNumber: block })
        : await client.verifyTypedData({ address, ...linkTypedData(challenge), signature, blockNumber: block });
    } catch (err) {
      // A malformed signature or a contract that reverts is not a valid signature; an RPC failure is not an answer.
      if (err instanceof HttpRequestError || err instanceof TimeoutError || err instanceof RpcRequestError)
        throw new AgentError(
          'chain_unavailable',
          `chain ${challenge.chainId}'s RPC did not answer: ${err.shortMessage}`,
        );
      return false;
    }
  }
}
