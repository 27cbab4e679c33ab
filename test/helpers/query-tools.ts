/**
 * A small real query tool for service-level tests: an agent's canonical NewFeedback count as of the block, under the
 * name and tier (1) of getFeedbacks. It counts its runs, so "computed" and "not computed" are observable, and
 * `fail: true` makes a run throw (a fault on our side).
 */
import { z } from 'zod';
import { defineQueryTool } from '../../src/queries/tool.js';

export function feedbackCountTool() {
  const counter = { runs: 0 };
  const tool = defineQueryTool({
    name: 'getFeedbacks',
    tier: 1,
    title: 'Feedback count',
    description: 'How many feedback an agent has, as of a block.',
    params: z.object({ fail: z.coerce.boolean().optional() }),
    data: z.object({ count: z.number() }),
    async run(ctx, params) {
      counter.runs += 1;
      if (params.fail) throw new Error('tool failure');
      const { rows } = await ctx.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM canonical_events
         WHERE chain_id = $1 AND agent_id = $2 AND event_type = 'NewFeedback' AND block_number <= $3`,
        [ctx.asOf.chainId, ctx.agentId, ctx.asOf.asOfBlock],
      );
      return { count: rows[0]!.n };
    },
  });
  return { tool, counter };
}
