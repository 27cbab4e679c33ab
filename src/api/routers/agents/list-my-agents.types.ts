import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { linkOutput } from './schema.js';
import { getReputationSummary } from '../../../queries/tools/get-reputation-summary.js';

export const listMyAgentsMeta: ApiMeta = {
  openapi: {
    method: 'GET',
    path: '/organizations/{organizationId}/my-agents',
    tags: ['Agents'],
    summary: "The organization's linked agents with their current reputation summary (free of charge)",
    protect: true,
  },
};
export const ZListMyAgentsRequest = z.looseObject({});
export const ZListMyAgentsResponse = z.object({
  items: z.array(
    linkOutput.extend({
      summary: z
        .object({ asOfBlock: z.number(), asOfBlockHash: z.string(), data: getReputationSummary.data })
        .nullable()
        .describe("getReputationSummary as of the chain's indexed head; null when the chain is not indexed here."),
    }),
  ),
});
