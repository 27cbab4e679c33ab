/** x402 in tests: our EIP-3009 token on anvil, the settings that point at it, and the official paying client. */
import { x402Client } from '@x402/core/client';
import { registerExactEvmScheme } from '@x402/evm/exact/client';
import { wrapFetchWithPayment } from '@x402/fetch';
import { createPublicClient, createWalletClient, http, type Address, type Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { loadArtifacts } from '../../src/chain/dev/compile.js';
import { anvilChain } from '../../src/chain/dev/anvil.js';
import type { X402Settings } from '../../src/payments/x402/config.js';
import type { TestChain } from './chain.js';

/** anvil's second default account (the first deploys): the in-process facilitator's wallet. */
export const FACILITATOR_KEY: Hex = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d';

/** The environment that enables x402 on a test chain (see README's configuration table). */
export function x402Env(chain: TestChain, payTo: Address, rpcUrl = chain.anvil.rpcUrl): Record<string, string> {
  const token = chain.paymentToken;
  if (!token) throw new Error('start the test chain with { paymentToken: true }');
  return {
    X402_ENABLED: 'true',
    X402_NETWORK: `eip155:${chain.anvil.chainId}`,
    X402_ASSET: token.address,
    X402_ASSET_NAME: token.name,
    X402_ASSET_VERSION: token.version,
    X402_ASSET_DECIMALS: String(token.decimals),
    X402_PAY_TO: payTo,
    X402_FACILITATOR_PRIVATE_KEY: FACILITATOR_KEY,
    X402_RPC_URL: rpcUrl,
  };
}

export function x402Settings(chain: TestChain, payTo: Address, overrides: Partial<X402Settings> = {}): X402Settings {
  const token = chain.paymentToken!;
  return {
    network: `eip155:${chain.anvil.chainId}`,
    chainId: chain.anvil.chainId,
    asset: { address: token.address, name: token.name, version: token.version, decimals: token.decimals },
    payTo,
    facilitator: { kind: 'local', privateKey: FACILITATOR_KEY, rpcUrl: chain.anvil.rpcUrl },
    maxTimeoutSeconds: 300,
    confirmationTimeoutMs: 20_000,
    reconcileIntervalMs: 60_000,
    ...overrides,
  };
}

/** A payer with `amount` units of the token and no ether (x402 is gasless for the payer). */
export async function fundedPayer(chain: TestChain, amount: bigint): Promise<{ key: Hex; address: Address }> {
  const key = generatePrivateKey();
  const { address } = privateKeyToAccount(key);
  const { TestUSDC } = await loadArtifacts();
  const viemChain = anvilChain(chain.anvil.rpcUrl, chain.anvil.chainId);
  const wallet = createWalletClient({ chain: viemChain, transport: http(chain.anvil.rpcUrl) });
  const [minter] = await wallet.getAddresses();
  const hash = await wallet.writeContract({
    address: chain.paymentToken!.address,
    abi: TestUSDC.abi,
    functionName: 'mint',
    args: [address, amount],
    account: minter!,
  });
  await createPublicClient({ chain: viemChain, transport: http(chain.anvil.rpcUrl) }).waitForTransactionReceipt({
    hash,
    pollingInterval: 50,
  });
  return { key, address };
}

export async function tokenBalance(chain: TestChain, address: Address): Promise<bigint> {
  const { TestUSDC } = await loadArtifacts();
  const client = createPublicClient({ transport: http(chain.anvil.rpcUrl) });
  return (await client.readContract({
    address: chain.paymentToken!.address,
    abi: TestUSDC.abi,
    functionName: 'balanceOf',
    args: [address],
  })) as bigint;
}

/** The official x402 client, allowed to pay our test token (not one of its known assets) up to `maxAtomic`. */
export function payingFetch(
  chain: TestChain,
  key: Hex,
  options: { maxAtomic?: string; fetch?: typeof fetch } = {},
): typeof fetch {
  const network = `eip155:${chain.anvil.chainId}` as const;
  const client = new x402Client();
  registerExactEvmScheme(client, { signer: privateKeyToAccount(key), networks: [network] });
  client.setSpendControls({
    allowedAssets: [
      { network, asset: chain.paymentToken!.address, maxAmountPerPayment: options.maxAtomic ?? '1000000' },
    ],
  });
  return wrapFetchWithPayment(options.fetch ?? fetch, client);
}

/**
 * A signed PAYMENT-SIGNATURE for `url` (asked for with `init`: a GET by default), made by the official client but not
 * sent: to send it as often as a test likes.
 */
export async function signedPayment(chain: TestChain, key: Hex, url: string, init?: RequestInit): Promise<string> {
  let captured: string | undefined;
  const capture: typeof fetch = async (input, init) => {
    const request = new Request(input, init);
    const signature = request.headers.get('PAYMENT-SIGNATURE');
    if (signature) {
      captured = signature;
      return new Response('{}', { status: 200 });
    }
    return fetch(request);
  };
  await payingFetch(chain, key, { fetch: capture })(url, init);
  if (!captured) throw new Error(`${url} asked for no payment`);
  return captured;
}
