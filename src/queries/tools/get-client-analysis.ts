/**
 * getClientAnalysis (tier 2): who an agent's feedback comes from and how concentrated it is, with Sybil-style flags.
 * Semantics: src/queries/client-concentration.ts.
 */
import { z } from 'zod';
import { CLIENT_FLAGS, computeClientConcentration, type ClientConcentration } from '../client-concentration.js';
import { formatWad } from '../exact-decimal.js';
import { toFeedbackPoint } from '../feedback-point.js';
import { abiVersionParam, feedbackScopeParams, scopeFilter } from '../feedback-params.js';
import { feedbackAsOf, type FeedbackRow } from '../feedback-set.js';
import { clientsRatingOtherAgents } from '../population.js';
import { RATIO_DIGITS } from '../ratio.js';
import { defineQueryTool, type QueryContext } from '../tool.js';

const iso = (seconds: number) => new Date(seconds * 1000).toISOString();
const ratio = z.string().describe(`exact ratio, ${RATIO_DIGITS} decimals, truncated`);

export const clientAnalysisData = z.object({
  feedbackCount: z.number().int(),
  clientCount: z.number().int(),
  repeatClients: z.number().int(),
  hhi: ratio.nullable(),
  effectiveClients: ratio.nullable(),
  topClientShare: ratio.nullable(),
  top5Share: ratio.nullable(),
  exclusiveClientShare: ratio.nullable(),
  flags: z.array(z.enum(CLIENT_FLAGS)),
  /** The first `limit` clients, most feedback first; `clientsTotal` counts all who gave any (revoked included). */
  clientsTotal: z.number().int(),
  clients: z.array(
    z.object({
      client: z.string(),
      count: z.number().int(),
      revoked: z.number().int(),
      first: z.string(),
      last: z.string(),
      mean: z.string().nullable(),
      /** Gave no counted feedback to any other agent as of the block. */
      exclusive: z.boolean(),
    }),
  ),
});
export type ClientAnalysisData = z.output<typeof clientAnalysisData>;

export interface AgentClientAnalysis {
  concentration: ClientConcentration;
  exclusiveClients: Set<string>;
}

/** The client analysis of `rows` (the agent's feedback set as of the context's block). */
export async function analyseClients(
  ctx: Pick<QueryContext, 'db' | 'asOf' | 'agentId'>,
  rows: readonly FeedbackRow[],
): Promise<AgentClientAnalysis> {
  const counted = [...new Set(rows.filter((r) => !r.revoked).map((r) => r.client))];
  const ratingOthers = await clientsRatingOtherAgents(ctx.db, ctx.asOf, ctx.agentId, counted);
  const exclusiveClients = new Set(counted.filter((c) => !ratingOthers.has(c)));
  return { concentration: computeClientConcentration(rows.map(toFeedbackPoint), exclusiveClients), exclusiveClients };
}

export function clientAnalysisAnswer({ concentration, exclusiveClients }: AgentClientAnalysis, limit: number) {
  const { clients, ...figures } = concentration;
  return {
    ...figures,
    clientsTotal: clients.length,
    clients: clients.slice(0, limit).map((c) => ({
      client: c.client,
      count: c.count,
      revoked: c.revoked,
      first: iso(c.first),
      last: iso(c.last),
      mean: c.meanWad === null ? null : formatWad(c.meanWad),
      exclusive: exclusiveClients.has(c.client),
    })),
  } satisfies ClientAnalysisData;
}

export const getClientAnalysis = defineQueryTool({
  name: 'getClientAnalysis',
  tier: 2,
  title: 'Client analysis',
  description:
    'Who rates the agent: per-client counts and means, repeat clients, HHI, effective clients, top-client, top-5 and ' +
    'exclusive-client shares, and flags (LOW_DIVERSITY, CONCENTRATED, DOMINANT_CLIENT, EXCLUSIVE_CLIENTS) — signals, ' +
    'not verdicts.',
  params: z.object({
    tag1: feedbackScopeParams.tag1,
    abiVersion: abiVersionParam,
    limit: z.coerce.number().int().min(0).max(1000).default(100).describe('Clients listed (the figures cover all).'),
  }),
  data: clientAnalysisData,
  async run(ctx, params) {
    const { tag1 } = scopeFilter(params);
    const rows = await feedbackAsOf(ctx.db, ctx.asOf, ctx.agentId, { tag1, abiVersions: [params.abiVersion] });
    return clientAnalysisAnswer(await analyseClients(ctx, rows), params.limit);
  },
});
