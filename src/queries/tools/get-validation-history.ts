/**
 * getValidationHistory (tier 1): each validation request of an agent with its latest response (the registry keeps
 * the last), pending or responded, how many responses and how long the first took; a summary as the registry's
 * getSummary computes it (responded only, ⌊Σ/n⌋), plus the exact mean, pass rates and per-validator figures.
 */
import { z } from 'zod';
import { defineQueryTool } from '../tool.js';
import { formatWad, WAD } from '../exact-decimal.js';
import { addressList, decodeCursor, encodeCursor, pageParams } from '../feedback-params.js';
import { groupSorted } from '../grouping.js';
import { validationsAsOf, type ValidationRow } from '../validation-set.js';

const params = z.object({
  validators: addressList(
    'Only requests addressed to these validators (comma-separated in a query string).',
  ).optional(),
  tag: z
    .string()
    .max(256)
    .optional()
    .describe('Only requests whose latest response has exactly this tag; empty or absent: any (as the registry).'),
  status: z
    .enum(['pending', 'responded'])
    .optional()
    .describe('Only list requests in this state (the summary is not narrowed).'),
  ...pageParams,
});

const rate = (what: string) => z.string().nullable().describe(`${what} (0–1, exact decimal truncated at 18 decimals)`);

const figures = {
  requests: z.number().int(),
  responded: z.number().int(),
  pending: z.number().int(),
  meanResponse: z.string().nullable().describe('Mean latest response of responded requests, exact (18 decimals).'),
  passRate100: rate('Share of responded requests whose latest response is 100'),
  passRate50: rate('Share of responded requests whose latest response is at least 50'),
};

const request = z.object({
  registry: z.string(),
  requestHash: z.string(),
  validator: z.string(),
  requestUri: z.string().nullable(),
  requestBlock: z.number(),
  requestLogIndex: z.number(),
  requestTime: z.string(),
  requestTransactionHash: z.string(),
  status: z.enum(['pending', 'responded']),
  responseCount: z.number().int().describe('ValidationResponse events for it at or below the block.'),
  response: z.number().int().nullable().describe('The latest response, 0–100.'),
  responseUri: z.string().nullable(),
  responseHash: z.string().nullable(),
  tag: z.string().nullable(),
  responseBlock: z.number().nullable(),
  responseTime: z.string().nullable(),
  firstResponseLatencySeconds: z
    .number()
    .int()
    .nullable()
    .describe('Block time of the first response − of the request.'),
});

const data = z.object({
  requests: z.array(request).describe('In chain order of the requests, paged.'),
  nextCursor: z.string().nullable(),
  summary: z.object({
    ...figures,
    onchain: z
      .array(z.object({ registry: z.string(), count: z.number().int(), avgResponse: z.number().int() }))
      .describe(
        'Per validation registry: getSummary(agentId, validators, tag) as of the block — responded only, ⌊Σ/n⌋.',
      ),
    byValidator: z.array(z.object({ validator: z.string(), ...figures })).describe('Ordered by validator address.'),
  }),
});

function summarise(rows: readonly ValidationRow[]): z.output<z.ZodObject<typeof figures>> {
  const responses = rows.filter((r) => r.status === 'responded').map((r) => BigInt(r.response!));
  const n = BigInt(responses.length);
  const share = (k: number) => (n === 0n ? null : formatWad((BigInt(k) * WAD) / n));
  return {
    requests: rows.length,
    responded: responses.length,
    pending: rows.length - responses.length,
    meanResponse: n === 0n ? null : formatWad((responses.reduce((a, b) => a + b, 0n) * WAD) / n),
    passRate100: share(responses.filter((r) => r === 100n).length),
    passRate50: share(responses.filter((r) => r >= 50n).length),
  };
}

export const getValidationHistory = defineQueryTool({
  name: 'getValidationHistory',
  tier: 1,
  title: 'Validation history',
  description:
    'Each validation request of an agent as of a block with its latest response, pending or responded, and its ' +
    'latency; a summary equal to the ValidationRegistry’s getSummary, with exact mean, pass rates and per validator.',
  params,
  data,
  async run(ctx, p) {
    const rows = await validationsAsOf(ctx.db, ctx.asOf, ctx.agentId, {
      validators: p.validators,
      tag: p.tag || undefined,
    });
    const after = decodeCursor(p.cursor);
    const listed = rows.filter(
      (r) =>
        (p.status === undefined || r.status === p.status) &&
        (after === undefined ||
          r.requestBlock > after.blockNumber ||
          (r.requestBlock === after.blockNumber && r.requestLogIndex > after.logIndex)),
    );
    const page = listed.slice(0, p.limit);
    const last = page.at(-1);
    return {
      requests: page,
      nextCursor:
        listed.length > p.limit && last
          ? encodeCursor({ blockNumber: last.requestBlock, logIndex: last.requestLogIndex })
          : null,
      summary: {
        ...summarise(rows),
        onchain: groupSorted(rows, (r) => r.registry).map(([registry, group]) => {
          const responded = group.filter((r) => r.status === 'responded');
          const total = responded.reduce((sum, r) => sum + r.response!, 0);
          return {
            registry,
            count: responded.length,
            avgResponse: responded.length ? Math.floor(total / responded.length) : 0,
          };
        }),
        byValidator: groupSorted(rows, (r) => r.validator).map(([validator, group]) => ({
          validator,
          ...summarise(group),
        })),
      },
    };
  },
});
