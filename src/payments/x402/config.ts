/**
 * x402 settings read from the environment (src/config.ts): which token on which chain callers pay in, who is paid,
 * and which facilitator verifies and settles (one in this process, holding a funded key, or a remote one by URL).
 * Parsed once at startup, so that a half-configured x402 stops the service with a message naming what is missing.
 */
import { z } from 'zod';
import { getAddress, isAddress, type Address, type Hex } from 'viem';
import { parseDecimal } from '../../triggers/decimal.js';

/** Fields of the environment schema (src/config.ts envSchema) this module reads. */
export const x402EnvFields = {
  /** Answers 402 on the paid query endpoints to callers without credentials. */
  X402_ENABLED: z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: "must be 'true' or 'false'" })
    .transform((v) => v === 'true' || v === '1' || v === 'yes')
    .optional(),
  X402_NETWORK: z
    .string()
    .regex(/^eip155:[1-9]\d{0,15}$/, 'must be an EVM network in CAIP-2 form, eip155:<chain id> (e.g. eip155:8453)')
    .optional(),
  X402_ASSET: z.string().refine(isAddress, 'must be the token contract address (0x…)').optional(),
  /** The token's EIP-712 domain, as its contract computes it (USDC: "USD Coin" / "2"). */
  X402_ASSET_NAME: z.string().min(1).max(100).default('USD Coin'),
  X402_ASSET_VERSION: z.string().min(1).max(20).default('2'),
  X402_ASSET_DECIMALS: z.coerce.number().int().min(0).max(36).default(6),
  X402_PAY_TO: z.string().refine(isAddress, 'must be the address that receives payments (0x…)').optional(),
  /** A remote facilitator (…/verify, …/settle, …/supported); unset: the facilitator runs in this process. */
  X402_FACILITATOR_URL: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).optional(),
  /** The in-process facilitator's wallet (pays the gas of settlements): 32-byte hex private key. */
  X402_FACILITATOR_PRIVATE_KEY: z
    .string()
    .regex(/^0x[0-9a-fA-F]{64}$/, 'must be a 32-byte hex private key (0x followed by 64 hex digits)')
    .optional(),
  /** RPC of the network for the in-process facilitator; default: the CHAINS entry of the same chain id. */
  X402_RPC_URL: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).optional(),
  /** How long a signed payment stays valid (the authorization's validBefore − now). */
  X402_MAX_TIMEOUT_SECONDS: z.coerce.number().int().min(10).max(3_600).default(300),
  /** How long a settlement waits for its receipt before being answered as pending and reconciled later. */
  X402_CONFIRMATION_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(60_000),
  /** How often pending and stale payments are reconciled against the chain. */
  X402_RECONCILE_INTERVAL_MS: z.coerce.number().int().min(1_000).max(3_600_000).default(30_000),
};

type X402Env = z.output<z.ZodObject<typeof x402EnvFields>>;

export type X402Facilitator =
  { kind: 'local'; privateKey: Hex; rpcUrl: string } | { kind: 'remote'; url: string; rpcUrl: string | undefined };

export interface X402Settings {
  /** CAIP-2, `eip155:<chainId>`. */
  network: `eip155:${number}`;
  chainId: number;
  asset: { address: Address; name: string; version: string; decimals: number };
  payTo: Address;
  facilitator: X402Facilitator;
  maxTimeoutSeconds: number;
  confirmationTimeoutMs: number;
  reconcileIntervalMs: number;
}

/**
 * The x402 settings, undefined when X402_ENABLED is not set; a list of problems when it is set but incomplete.
 * `chainRpcUrl` finds the RPC of a configured chain (CHAINS) for the facilitator when X402_RPC_URL is unset.
 */
export function x402Settings(
  e: X402Env,
  chainRpcUrl: (chainId: number) => string | undefined,
): X402Settings | undefined | { problems: string[] } {
  if (!e.X402_ENABLED) return undefined;
  const problems: string[] = [];
  const required = (name: keyof X402Env, what: string) => {
    if (e[name] === undefined) problems.push(`${name}: required with X402_ENABLED (${what})`);
  };
  required('X402_NETWORK', 'the CAIP-2 network callers pay on, e.g. eip155:8453');
  required('X402_ASSET', 'the EIP-3009 token contract, e.g. USDC');
  required('X402_PAY_TO', 'the address that receives payments');
  const chainId = e.X402_NETWORK ? Number(e.X402_NETWORK.slice('eip155:'.length)) : 0;
  const rpcUrl = e.X402_RPC_URL ?? (chainId ? chainRpcUrl(chainId) : undefined);
  let facilitator: X402Facilitator | undefined;
  if (e.X402_FACILITATOR_URL) {
    facilitator = { kind: 'remote', url: e.X402_FACILITATOR_URL, rpcUrl };
  } else if (!e.X402_FACILITATOR_PRIVATE_KEY) {
    problems.push(
      'X402_FACILITATOR_PRIVATE_KEY: required with X402_ENABLED unless X402_FACILITATOR_URL names a remote facilitator ' +
        "(the in-process facilitator's wallet, which pays the settlements' gas)",
    );
  } else if (!rpcUrl) {
    problems.push(
      `X402_RPC_URL: required for the in-process facilitator (no chain ${chainId || '?'} in CHAINS to take it from)`,
    );
  } else {
    facilitator = { kind: 'local', privateKey: e.X402_FACILITATOR_PRIVATE_KEY as Hex, rpcUrl };
  }
  if (problems.length > 0 || !facilitator) return { problems };
  return {
    network: e.X402_NETWORK as `eip155:${number}`,
    chainId,
    asset: {
      address: getAddress(e.X402_ASSET!),
      name: e.X402_ASSET_NAME,
      version: e.X402_ASSET_VERSION,
      decimals: e.X402_ASSET_DECIMALS,
    },
    payTo: getAddress(e.X402_PAY_TO!),
    facilitator,
    maxTimeoutSeconds: e.X402_MAX_TIMEOUT_SECONDS,
    confirmationTimeoutMs: e.X402_CONFIRMATION_TIMEOUT_MS,
    reconcileIntervalMs: e.X402_RECONCILE_INTERVAL_MS,
  };
}

/**
 * A USDC price ("0.001") in the asset's smallest unit (decimals 6 → 1000n), exactly. A price with more decimals than
 * the asset has cannot be charged, and is refused rather than rounded.
 */
export function atomicAmount(price: string, decimals: number): bigint {
  const scaled = parseDecimal(price);
  if (!scaled || scaled.int <= 0n) throw new Error(`not a positive price: ${JSON.stringify(price)}`);
  let { int, decimals: d } = scaled;
  // Trailing zeros say nothing ("0.0010" is 0.001).
  while (d > decimals && int % 10n === 0n) {
    int /= 10n;
    d -= 1;
  }
  if (d > decimals) throw new Error(`price ${price} has more than the asset's ${decimals} decimals`);
  return int * 10n ** BigInt(decimals - d);
}
