import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { Erc8004Version, RegistryKind } from './abis.js';

/**
 * Which chains to index: a JSON array in CHAINS, or the path of a JSON file in CHAINS_FILE. Each chain names its RPC
 * endpoint(s), how many confirmations to wait for, and its registry deployments — each with its own ABI version and
 * first block, because the standard's events changed shape between versions.
 *
 * [{ "chainId": 84532, "rpcUrl": "https://…", "wsUrl": "wss://…", "confirmations": 5,
 *    "deployments": [{ "registry": "reputation", "address": "0x8004B663…", "abiVersion": "v1.0", "firstBlock": 31000000 }] }]
 */
const address = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x-prefixed 20-byte hex address')
  .transform((a) => a.toLowerCase() as `0x${string}`);

const blockNumber = z.number().int('must be a whole block number').min(0, 'must be >= 0').max(Number.MAX_SAFE_INTEGER);

export const deploymentSchema = z.object({
  registry: z.enum(['identity', 'reputation', 'validation']),
  address,
  abiVersion: z.enum(['v1.0', 'v0.4']).default('v1.0'),
  firstBlock: blockNumber.default(0),
});

export const chainSchema = z
  .object({
    chainId: z.number().int().positive('must be a positive chain id'),
    name: z.string().min(1).optional(),
    rpcUrl: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }),
    wsUrl: z.url({ protocol: /^wss?$/, message: 'must be a ws(s) URL' }).optional(),
    confirmations: z.number().int().min(0).max(1_000).default(12),
    pollIntervalMs: z.number().int().min(10).max(600_000).default(2_000),
    /** Largest eth_getLogs range to ask for; the indexer shrinks it when the RPC refuses and grows it back. */
    maxBlockRange: z.number().int().min(1).max(1_000_000).default(2_000),
    /** First block the live indexer reads; default: the earliest deployment's firstBlock. */
    startBlock: blockNumber.optional(),
    deployments: z.array(deploymentSchema).min(1, 'needs at least one registry deployment'),
  })
  .superRefine((chain, ctx) => {
    const seen = new Set<string>();
    chain.deployments.forEach((d, i) => {
      if (seen.has(d.address)) {
        ctx.addIssue({
          code: 'custom',
          path: ['deployments', i, 'address'],
          message: `address ${d.address} is listed twice`,
        });
      }
      seen.add(d.address);
    });
  });

export const chainsSchema = z.array(chainSchema).superRefine((chains, ctx) => {
  const seen = new Set<number>();
  chains.forEach((c, i) => {
    if (seen.has(c.chainId))
      ctx.addIssue({ code: 'custom', path: [i, 'chainId'], message: `chain ${c.chainId} is listed twice` });
    seen.add(c.chainId);
  });
});

export type Deployment = z.infer<typeof deploymentSchema> & { registry: RegistryKind; abiVersion: Erc8004Version };
export type ChainConfig = z.infer<typeof chainSchema>;

export class ChainConfigError extends Error {
  constructor(source: string, problems: string[]) {
    super(`Invalid chain configuration in ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ChainConfigError';
  }
}

/** Parses a chain list; errors name the exact path, e.g. `[0].deployments[1].address`. */
export function parseChains(value: unknown, source = 'CHAINS'): ChainConfig[] {
  const parsed = chainsSchema.safeParse(value);
  if (!parsed.success) {
    throw new ChainConfigError(
      source,
      parsed.error.issues.map((issue) => {
        const where = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
        return `${where || '(root)'}: ${issue.message}`;
      }),
    );
  }
  return parsed.data;
}

/** Reads CHAINS (inline JSON) or CHAINS_FILE (a JSON file); none means no chain is configured. */
export function loadChains(env: { CHAINS?: string; CHAINS_FILE?: string }): ChainConfig[] {
  if (env.CHAINS && env.CHAINS_FILE)
    throw new ChainConfigError('CHAINS/CHAINS_FILE', ['set one of CHAINS and CHAINS_FILE, not both']);
  let text: string | undefined;
  let source = 'CHAINS';
  if (env.CHAINS_FILE) {
    source = `CHAINS_FILE (${env.CHAINS_FILE})`;
    try {
      text = readFileSync(env.CHAINS_FILE, 'utf8');
    } catch (err) {
      throw new ChainConfigError(source, [`cannot read the file: ${(err as Error).message}`]);
    }
  } else text = env.CHAINS;
  if (!text) return [];
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ChainConfigError(source, [`not valid JSON: ${(err as Error).message}`]);
  }
  return parseChains(json, source);
}

/** The block the live indexer starts from when it has no checkpoint. */
export function liveStartBlock(chain: ChainConfig): number {
  return chain.startBlock ?? Math.min(...chain.deployments.map((d) => d.firstBlock));
}
