/**
 * Transactions against our development registries on a local chain (anvil's unlocked accounts): used by the demo
 * simulator, the tests and the benchmarks. Every call waits for its receipt and fails on a revert.
 */
import {
  createPublicClient,
  createWalletClient,
  http,
  getAddress,
  type Abi,
  type Address,
  type Hex,
  type PublicClient,
  type TransactionReceipt,
  type WalletClient,
} from 'viem';
import { loadArtifacts, type Artifacts } from './compile.js';
import type { DeployedRegistries } from './anvil.js';

export interface MetadataEntry {
  metadataKey: string;
  metadataValue: Hex;
}

/**
 * Gas for a call, with headroom. anvil estimates at its wall-clock second, but the transaction may run in a later
 * one: a write of `block.timestamp` that was a no-op in the estimate (same second as the stored value) then costs
 * ~2,800 gas more, and an exact estimate fails with out-of-gas. Real wallets pad their estimates for the same reason.
 */
export async function gasWithHeadroom(
  publicClient: PublicClient,
  call: { address: Address; abi: Abi; functionName: string; args: readonly unknown[]; account: Address },
): Promise<bigint> {
  const estimate = await publicClient.estimateContractGas(call);
  return (estimate * 5n) / 4n + 20_000n;
}

export class DevRegistries {
  private constructor(
    readonly deployed: DeployedRegistries,
    readonly publicClient: PublicClient,
    readonly wallet: WalletClient,
    readonly artifacts: Artifacts,
    readonly accounts: Address[],
  ) {}

  static async connect(rpcUrl: string, deployed: DeployedRegistries): Promise<DevRegistries> {
    const publicClient = createPublicClient({ chain: deployed.chain, transport: http(rpcUrl), pollingInterval: 20 });
    // A send is not idempotent: the transport's retry of one that timed out would submit it again. Wait longer instead.
    const wallet = createWalletClient({
      chain: deployed.chain,
      transport: http(rpcUrl, { retryCount: 0, timeout: 60_000 }),
      pollingInterval: 20,
    });
    const accounts = (await wallet.getAddresses()).map((a) => getAddress(a));
    return new DevRegistries(deployed, publicClient, wallet, await loadArtifacts(), accounts);
  }

  /** Sends a transaction and waits for it to be mined; throws with the revert reason on failure. */
  async send(
    from: Address,
    address: Address,
    abi: Abi,
    functionName: string,
    args: readonly unknown[],
  ): Promise<TransactionReceipt> {
    // The gas estimate runs the call first: a revert throws there, with the error's name (anvil would mine it silently).
    const hash = await this.sendNoWait(from, address, abi, functionName, args);
    const receipt = await this.publicClient.waitForTransactionReceipt({ hash, pollingInterval: 20 });
    if (receipt.status !== 'success') throw new Error(`${functionName} reverted (tx ${hash})`);
    return receipt;
  }

  /** Sends without waiting for the receipt (for rate-driven load); returns the transaction hash. */
  async sendNoWait(
    from: Address,
    address: Address,
    abi: Abi,
    functionName: string,
    args: readonly unknown[],
  ): Promise<Hex> {
    // One account's sends go one after another: the node gives each the account's next nonce, and two at once can
    // get the same one (the second then fails: "transaction already imported" or "nonce too low").
    const previous = this.sending.get(from) ?? Promise.resolve();
    const sent = previous
      .catch(() => undefined)
      .then(async () => {
        const gas = await gasWithHeadroom(this.publicClient, { address, abi, functionName, args, account: from });
        return this.wallet.writeContract({
          address,
          abi,
          functionName,
          args,
          account: from,
          chain: this.deployed.chain,
          gas,
        });
      });
    this.sending.set(from, sent);
    return sent;
  }

  /** The last send of each account (see sendNoWait). */
  private readonly sending = new Map<Address, Promise<unknown>>();

  private get identity() {
    return { address: this.deployed.identity, abi: this.artifacts.IdentityRegistry.abi };
  }
  private get reputation() {
    return { address: this.deployed.reputation, abi: this.artifacts.ReputationRegistry.abi };
  }
  private get validation() {
    return { address: this.deployed.validation, abi: this.artifacts.ValidationRegistry.abi };
  }
  private get legacy() {
    return { address: this.deployed.legacyReputation, abi: this.artifacts.LegacyReputationRegistryV04.abi };
  }

  register(from: Address, agentURI?: string, metadata?: MetadataEntry[]) {
    const args = agentURI === undefined ? [] : metadata === undefined ? [agentURI] : [agentURI, metadata];
    return this.send(from, this.identity.address, this.identity.abi, 'register', args);
  }

  setAgentURI(from: Address, agentId: bigint, uri: string) {
    return this.send(from, this.identity.address, this.identity.abi, 'setAgentURI', [agentId, uri]);
  }

  setMetadata(from: Address, agentId: bigint, key: string, value: Hex) {
    return this.send(from, this.identity.address, this.identity.abi, 'setMetadata', [agentId, key, value]);
  }

  setAgentWallet(from: Address, agentId: bigint, wallet: Address) {
    return this.send(from, this.identity.address, this.identity.abi, 'setAgentWallet', [agentId, wallet]);
  }

  transfer(from: Address, to: Address, agentId: bigint) {
    return this.send(from, this.identity.address, this.identity.abi, 'transferFrom', [from, to, agentId]);
  }

  giveFeedback(
    from: Address,
    f: {
      agentId: bigint;
      value: bigint;
      valueDecimals: number;
      tag1?: string;
      tag2?: string;
      endpoint?: string;
      feedbackURI?: string;
      feedbackHash?: Hex;
    },
  ) {
    return this.send(from, this.reputation.address, this.reputation.abi, 'giveFeedback', [
      f.agentId,
      f.value,
      f.valueDecimals,
      f.tag1 ?? '',
      f.tag2 ?? '',
      f.endpoint ?? '',
      f.feedbackURI ?? '',
      f.feedbackHash ?? `0x${'00'.repeat(32)}`,
    ]);
  }

  revokeFeedback(from: Address, agentId: bigint, feedbackIndex: bigint) {
    return this.send(from, this.reputation.address, this.reputation.abi, 'revokeFeedback', [agentId, feedbackIndex]);
  }

  appendResponse(
    from: Address,
    r: { agentId: bigint; clientAddress: Address; feedbackIndex: bigint; responseURI: string; responseHash: Hex },
  ) {
    return this.send(from, this.reputation.address, this.reputation.abi, 'appendResponse', [
      r.agentId,
      r.clientAddress,
      r.feedbackIndex,
      r.responseURI,
      r.responseHash,
    ]);
  }

  validationRequest(from: Address, r: { validator: Address; agentId: bigint; requestURI: string; requestHash: Hex }) {
    return this.send(from, this.validation.address, this.validation.abi, 'validationRequest', [
      r.validator,
      r.agentId,
      r.requestURI,
      r.requestHash,
    ]);
  }

  validationResponse(
    from: Address,
    r: { requestHash: Hex; response: number; responseURI: string; responseHash: Hex; tag: string },
  ) {
    return this.send(from, this.validation.address, this.validation.abi, 'validationResponse', [
      r.requestHash,
      r.response,
      r.responseURI,
      r.responseHash,
      r.tag,
    ]);
  }

  legacyGiveFeedback(
    from: Address,
    f: { agentId: bigint; score: number; tag1: Hex; tag2: Hex; fileuri: string; filehash: Hex },
  ) {
    return this.send(from, this.legacy.address, this.legacy.abi, 'giveFeedback', [
      f.agentId,
      f.score,
      f.tag1,
      f.tag2,
      f.fileuri,
      f.filehash,
    ]);
  }
}
