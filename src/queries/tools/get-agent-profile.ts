/**
 * getAgentProfile (tier 0): who an agent is as of a block — owner, agent URI, the registration file when the URI
 * carries it, its services and MCP endpoint, every metadata key's latest value and the agent wallet. An agent that
 * does not exist as of the block (not yet registered, or burned) is an answer (`registered: false`), not an error.
 *
 * Whether the agent is linked to an account here is issue 14's (agent linking); the profile leaves it out until then.
 */
import { z } from 'zod';
import type { Queryable } from '../../db/transaction.js';
import type { AsOf } from '../as-of.js';
import { compareCodeUnits } from '../grouping.js';
import { defineQueryTool } from '../tool.js';
import { mcpEndpoint, readRegistrationFile } from '../registration-file.js';

const ZERO_ADDRESS = `0x${'0'.repeat(40)}`;
/** The metadata key the identity registry keeps the agent's payment wallet under (20 bytes; cleared on transfer). */
export const AGENT_WALLET_KEY = 'agentWallet';

const params = z.object({});

const service = z.object({ name: z.string(), endpoint: z.string(), version: z.string().nullable() });

const data = z.object({
  registered: z.boolean().describe('The agent exists as of the block (registered, not burned).'),
  owner: z.string().nullable().describe('The owner as of the block (latest Transfer or Registered).'),
  registeredAtBlock: z.number().nullable(),
  registeredAt: z.string().nullable().describe('ISO 8601, UTC.'),
  agentUri: z.string().nullable().describe('The agent URI as of the block (Registered, then URIUpdated).'),
  registrationFile: z
    .object({
      status: z
        .enum(['parsed', 'not_fetched', 'invalid', 'no_uri'])
        .describe(
          'parsed: the URI is a data: URI holding the file; not_fetched: http(s)/ipfs files are never fetched at ' +
            'query time (the answer must depend only on the chain); invalid: a data: URI without a JSON object.',
        ),
      reason: z.string().nullable(),
      type: z.string().nullable(),
      name: z.string().nullable(),
      description: z.string().nullable(),
      image: z.string().nullable(),
      x402Support: z.boolean().nullable(),
      active: z.boolean().nullable(),
      registrations: z.array(z.object({ agentId: z.string(), agentRegistry: z.string() })),
      supportedTrust: z.array(z.string()),
    })
    .describe('What the registration file says, when the agent URI carries it.'),
  services: z.array(service).describe('The services the registration file declares (older files: `endpoints`).'),
  mcpEndpoint: z.string().nullable().describe('The endpoint of the service named MCP, if declared.'),
  metadata: z
    .array(
      z.object({
        key: z.string(),
        value: z.string().describe('The bytes, 0x-hex.'),
        utf8: z
          .string()
          .nullable()
          .describe('The bytes as text, when they are valid UTF-8 without control characters.'),
        blockNumber: z.number(),
      }),
    )
    .describe('The latest MetadataSet of each key as of the block, ordered by key.'),
  agentWallet: z.string().nullable().describe('The `agentWallet` metadata as an address; null when unset or cleared.'),
});

type Profile = z.output<typeof data>;

interface IdentitySqlRow {
  event_type: 'Registered' | 'Transfer' | 'MetadataSet' | 'URIUpdated';
  owner: string | null;
  token_uri: string | null;
  metadata_key: string | null;
  metadata_value: string | null;
  block_number: string;
  block_time: Date;
}

/** The bytes as text, when they are valid UTF-8 without control characters (an address's bytes are not text). */
function utf8(hex: string): string | null {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(hex.slice(2), 'hex'));
  } catch {
    return null;
  }
  // eslint-disable-next-line no-control-regex -- control characters are exactly what this looks for
  return /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text) ? null : text;
}

const UNREGISTERED: Profile = {
  registered: false,
  owner: null,
  registeredAtBlock: null,
  registeredAt: null,
  agentUri: null,
  registrationFile: {
    status: 'no_uri',
    reason: null,
    type: null,
    name: null,
    description: null,
    image: null,
    x402Support: null,
    active: null,
    registrations: [],
    supportedTrust: [],
  },
  services: [],
  mcpEndpoint: null,
  metadata: [],
  agentWallet: null,
};

/** The agent's identity as of the block, from its canonical identity-registry events. */
export async function agentProfileAsOf(
  db: Queryable,
  asOf: Pick<AsOf, 'chainId' | 'asOfBlock'>,
  agentId: string,
): Promise<Profile> {
  const { rows } = await db.query<IdentitySqlRow>(
    `SELECT event_type, owner, token_uri, metadata_key, metadata_value, block_number::text AS block_number, block_time
     FROM canonical_events
     WHERE chain_id = $1 AND agent_id = $2::numeric AND registry = 'identity' AND block_number <= $3
     ORDER BY block_number, log_index`,
    [asOf.chainId, agentId, asOf.asOfBlock],
  );
  let owner: string | null = null;
  let mintedAt: IdentitySqlRow | undefined;
  let agentUri: string | null = null;
  const metadata = new Map<string, IdentitySqlRow>();
  for (const row of rows) {
    switch (row.event_type) {
      case 'Registered':
      case 'Transfer':
        owner = row.owner;
        if (owner === ZERO_ADDRESS)
          mintedAt = undefined; // burned; a later mint registers it anew
        else mintedAt ??= row;
        if (row.event_type === 'Registered') agentUri = row.token_uri;
        break;
      case 'URIUpdated':
        agentUri = row.token_uri;
        break;
      case 'MetadataSet':
        metadata.set(row.metadata_key ?? '', row);
        break;
    }
  }
  if (!mintedAt || owner === null || owner === ZERO_ADDRESS) return UNREGISTERED;

  const file = readRegistrationFile(agentUri);
  const parsed = file.status === 'parsed' ? file.file : undefined;
  const wallet = metadata.get(AGENT_WALLET_KEY)?.metadata_value;
  return {
    registered: true,
    owner,
    registeredAtBlock: Number(mintedAt.block_number),
    registeredAt: mintedAt.block_time.toISOString(),
    agentUri,
    registrationFile: {
      status: file.status,
      reason: 'reason' in file ? file.reason : null,
      type: parsed?.type ?? null,
      name: parsed?.name ?? null,
      description: parsed?.description ?? null,
      image: parsed?.image ?? null,
      x402Support: parsed?.x402Support ?? null,
      active: parsed?.active ?? null,
      registrations: parsed?.registrations ?? [],
      supportedTrust: parsed?.supportedTrust ?? [],
    },
    services: parsed?.services ?? [],
    mcpEndpoint: mcpEndpoint(parsed),
    metadata: [...metadata.entries()]
      .sort(([a], [b]) => compareCodeUnits(a, b))
      .map(([key, row]) => ({
        key,
        value: row.metadata_value ?? '0x',
        utf8: utf8(row.metadata_value ?? '0x'),
        blockNumber: Number(row.block_number),
      })),
    agentWallet: wallet && /^0x[0-9a-f]{40}$/.test(wallet) ? wallet : null,
  };
}

export const getAgentProfile = defineQueryTool({
  name: 'getAgentProfile',
  tier: 0,
  title: 'Agent profile',
  description:
    'Who an agent is as of a block: owner, agent URI, registration file (when the URI is a data: URI), services and ' +
    'MCP endpoint, metadata and agent wallet; `registered: false` when it does not exist at that block.',
  params,
  data,
  run: (ctx) => agentProfileAsOf(ctx.db, ctx.asOf, ctx.agentId),
});
