/**
 * The x402 facilitator: in this process by default (the official x402Facilitator with the EVM "exact" scheme, signing
 * settlements with our own funded wallet), or a remote one by URL. Either way the resource server sees a
 * FacilitatorClient; the payment network's RPC (when we know it) also serves the outage probe and the reconciler.
 */
import { x402Facilitator } from '@x402/core/facilitator';
import { HTTPFacilitatorClient, type FacilitatorClient } from '@x402/core/server';
import type { SupportedResponse } from '@x402/core/types';
import { toFacilitatorEvmSigner } from '@x402/evm';
import { ExactEvmScheme } from '@x402/evm/exact/facilitator';
import {
  createPublicClient,
  createWalletClient,
  defineChain,
  http,
  publicActions,
  type Chain,
  type PublicClient,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { createNonceManager, jsonRpc } from 'viem/nonce';
import type { X402Settings } from './config.js';

export function paymentChain(settings: Pick<X402Settings, 'chainId' | 'network'>, rpcUrl: string): Chain {
  return defineChain({
    id: settings.chainId,
    name: settings.network,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
}

/** The in-process facilitator over viem, per the x402 reference (toFacilitatorEvmSigner over a wallet client). */
export function localFacilitator(
  settings: X402Settings & { facilitator: { kind: 'local' } },
): FacilitatorClient & { address: string } {
  const { rpcUrl, privateKey } = settings.facilitator;
  // A nonce manager hands out the wallet's nonces in process, so concurrent settlements do not reuse one. Our own,
  // not viem's shared one: that caches nonces per address and chain id for the whole process, across RPCs.
  const account = privateKeyToAccount(privateKey, { nonceManager: createNonceManager({ source: jsonRpc() }) });
  const chain = paymentChain(settings, rpcUrl);
  const client = createWalletClient({ account, chain, transport: http(rpcUrl), pollingInterval: 250 }).extend(
    publicActions,
  );
  // The x402 signer interface is looser than viem's (abis and typed data as unknown records): the casts meet it.
  /* eslint-disable @typescript-eslint/no-explicit-any */
  const signer = toFacilitatorEvmSigner(
    {
      address: account.address,
      getCode: (args) => client.getCode(args),
      readContract: (args) => client.readContract(args as any),
      verifyTypedData: (args) => client.verifyTypedData(args as any),
      writeContract: (args) => client.writeContract({ ...(args as any), account, chain }),
      sendTransaction: (args) => client.sendTransaction({ ...args, account, chain }),
      waitForTransactionReceipt: (args) => client.waitForTransactionReceipt(args),
    },
    { confirmationTimeoutMs: settings.confirmationTimeoutMs },
  );
  /* eslint-enable @typescript-eslint/no-explicit-any */
  const facilitator = new x402Facilitator().register(settings.network, new ExactEvmScheme(signer));
  return {
    address: account.address,
    verify: (payload, requirements) => facilitator.verify(payload, requirements),
    settle: (payload, requirements) => facilitator.settle(payload, requirements),
    // x402Facilitator answers synchronously; the client interface wants a promise.
    getSupported: async () => facilitator.getSupported() as SupportedResponse,
  };
}

export function createFacilitatorClient(settings: X402Settings): FacilitatorClient {
  if (settings.facilitator.kind === 'remote') return new HTTPFacilitatorClient({ url: settings.facilitator.url });
  return localFacilitator({ ...settings, facilitator: settings.facilitator });
}

/** A client of the payment network for probes and reconciliation: no retries, short timeout (an outage shows fast). */
export function paymentNetworkClient(settings: X402Settings): PublicClient | undefined {
  const { rpcUrl } = settings.facilitator;
  if (!rpcUrl) return undefined;
  return createPublicClient({
    chain: paymentChain(settings, rpcUrl),
    transport: http(rpcUrl, { retryCount: 0, timeout: 3_000 }),
  });
}
