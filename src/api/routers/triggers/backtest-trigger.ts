import { orgProcedure } from '../../trpc/trpc.js';
import { ApiError } from '../../trpc/errors.js';
import { runBacktest } from '../../../triggers/backtest.js';
import { backtestTriggerMeta, ZBacktestTriggerRequest, ZBacktestTriggerResponse } from './backtest-trigger.types.js';

export const backtestTriggerRoute = orgProcedure('read')
  .meta(backtestTriggerMeta)
  .input(ZBacktestTriggerRequest)
  .output(ZBacktestTriggerResponse)
  .mutation(async ({ ctx, input }) => {
    const { rowCount } = await ctx.pool.query('SELECT 1 FROM triggers WHERE id = $1 AND organization_id = $2', [input.triggerId, input.organizationId]);
    if (!rowCount) throw new ApiError('NOT_FOUND', `trigger ${input.triggerId} not found`);
    const result = await runBacktest(ctx.pool, { triggerId: input.triggerId, chainId: input.chainId, fromBlock: input.fromBlock, toBlock: input.toBlock });
    return {
      eventsScanned: result.eventsScanned,
      eligibleEvents: result.eligibleEvents,
      suppressed: result.suppressed,
      firings: result.firings.map((f) => ({
        kind: f.kind, eventId: f.event.id, blockNumber: f.event.block_number, agentKey: f.agentKey, at: new Date(f.at * 1000).toISOString(), values: f.values,
      })),
    };
  });
