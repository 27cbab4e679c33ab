/**
 * getReputationSummary (tier 1): count, unique clients, exact mean (truncated like the contract), min, max, population
 * stddev, revoked and answered counts, per tag1 — and `onchain`, what each v1.0 ReputationRegistry's getSummary
 * returns for the same clients and tags at the same block (the parity test proves the two agree).
 */
import { z } from 'zod';
import { defineQueryTool } from '../tool.js';
import { formatTrimmed, formatWad, meanWad, minMax, stddevPopWad } from '../exact-decimal.js';
import { feedbackInScope, type FeedbackRow } from '../feedback-set.js';
import { abiVersionParam, feedbackScopeParams, scopeFilter } from '../feedback-params.js';
import { groupSorted } from '../grouping.js';
import { contractGetSummary } from '../onchain-summary.js';

const params = z.object({
  ...feedbackScopeParams,
  abiVersion: abiVersionParam,
});

const decimal = (what: string) => z.string().describe(`${what}, as an exact decimal (up to 18 decimals).`);

const stats = {
  count: z.number().int().describe('Feedback counted: in scope and not revoked as of the block.'),
  uniqueClients: z.number().int().describe('Distinct clients among the counted feedback.'),
  mean: decimal('Σvalue / count, truncated toward zero at 18 decimals like the registry').nullable(),
  min: decimal('Smallest counted value').nullable(),
  max: decimal('Largest counted value').nullable(),
};

const data = z.object({
  ...stats,
  stddevPop: decimal('Population standard deviation, truncated at 18 decimals; 0 for one value').nullable(),
  revokedCount: z.number().int().describe('Feedback in scope that was revoked at or below the block (not counted).'),
  withResponse: z.number().int().describe('Counted feedback with at least one response.'),
  byTag1: z
    .array(z.object({ tag1: z.string(), ...stats }))
    .describe('The same figures per tag1 of the counted feedback, ordered by tag1.'),
  mixedTags: z
    .boolean()
    .describe('More than one tag1 contributes: the overall mean mixes measures (e.g. uptime % and response ms).'),
  onchain: z
    .array(
      z.object({
        registry: z.string().describe('The v1.0 reputation registry (contract address).'),
        count: z.number().int(),
        summaryValue: z.string().describe('int128, decimal.'),
        summaryValueDecimals: z.number().int(),
        decimal: z.string().describe('summaryValue / 10^summaryValueDecimals.'),
      }),
    )
    .describe(
      'Per v1.0 registry holding feedback of the agent: getSummary(agentId, clients — or getClients(agentId) — , ' +
        'tag1, tag2) as of the block. The registry has no time window: `from`/`to`/block range do not narrow it.',
    ),
});

function figures(rows: readonly FeedbackRow[]): z.output<z.ZodObject<typeof stats>> {
  if (rows.length === 0) return { count: 0, uniqueClients: 0, mean: null, min: null, max: null };
  const wads = rows.map((r) => r.wad);
  const { min, max } = minMax(wads);
  return {
    count: rows.length,
    uniqueClients: new Set(rows.map((r) => r.client)).size,
    mean: formatWad(
      meanWad(
        wads.reduce((a, b) => a + b, 0n),
        wads.length,
      ),
    ),
    min: formatWad(min),
    max: formatWad(max),
  };
}

export const getReputationSummary = defineQueryTool({
  name: 'getReputationSummary',
  tier: 1,
  title: 'Reputation summary',
  description:
    'Count, unique clients, exact mean, min, max and standard deviation of an agent’s non-revoked feedback as of a ' +
    'block, per tag1 too, with what the ReputationRegistry’s own getSummary returns for the same clients and tags.',
  params,
  data,
  async run(ctx, p) {
    // One read: every row of the asked version, marked whether it is in the asked scope. The registry's summary
    // sums all of its feedback of the agent (it has no window) — v1.0 only, v0.4 registries answer something else.
    const rows = await feedbackInScope(ctx.db, ctx.asOf, ctx.agentId, { abiVersions: [p.abiVersion] }, scopeFilter(p));
    const scoped = rows.filter((r) => r.inScope);
    const registryRows = p.abiVersion === 'v1.0' ? rows : [];
    const counted = scoped.filter((r) => !r.revoked);
    const byTag1 = groupSorted(counted, (r) => r.tag1);
    const overall = figures(counted);
    return {
      ...overall,
      stddevPop: counted.length ? formatWad(stddevPopWad(counted.map((r) => r.wad))) : null,
      revokedCount: scoped.length - counted.length,
      withResponse: counted.filter((r) => r.responses > 0).length,
      byTag1: byTag1.map(([tag1, rows]) => ({ tag1, ...figures(rows) })),
      mixedTags: byTag1.length > 1,
      onchain: onchainSummaries(registryRows, p.clients, p.tag1 ?? '', p.tag2 ?? ''),
    };
  },
});

/** getSummary of each registry, for the given clients or — as §B.6 asks — all of its clients of the agent. */
function onchainSummaries(rows: readonly FeedbackRow[], clients: string[] | undefined, tag1: string, tag2: string) {
  return groupSorted(rows, (r) => r.registry).map(([registry, feedback]) => {
    // getClients(agentId): every client that gave feedback (revoked or not), in first-feedback order.
    const clientList = clients ?? [...new Set(feedback.map((r) => r.client))];
    const summary = contractGetSummary(feedback, clientList, tag1, tag2);
    return {
      registry,
      count: summary.count,
      summaryValue: summary.summaryValue.toString(),
      summaryValueDecimals: summary.summaryValueDecimals,
      decimal: formatTrimmed(summary.summaryValue, summary.summaryValueDecimals),
    };
  });
}
