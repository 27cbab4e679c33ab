import { orgProcedure } from '../../trpc/trpc.js';
import { ApiError } from '../../trpc/errors.js';
import { runBacktest } from '../../../triggers/backtest.js';
import {
  backtestTriggerMeta,
  MAX_BACKTEST_BLOCKS,
  ZBacktestTriggerRequest,
  ZBacktestTriggerResponse,
} from './backtest-trigger.types.js';

export const backtestTriggerRoute = orgProcedure('read')
  .meta(backtestTriggerMeta)
  .input(ZBacktestTriggerRequest)
  .output(ZBacktestTriggerResponse)
  .mutation(async ({ ctx, input }) => {
    // Range rules compare two fields, which the schema cannot state; the operation's description does.
    if (input.toBlock < input.fromBlock) throw new ApiError('BAD_REQUEST', 'toBlock must not be below fromBlock');
    if (input.toBlock - input.fromBlock > MAX_BACKTEST_BLOCKS)
      throw new ApiError('BAD_REQUEST', `at most ${MAX_BACKTEST_BLOCKS.toLocaleString('en')} blocks per backtest`);
    const { rowCount } = await ctx.pool.query('SELECT 1 FROM triggers WHERE id = $1 AND organization_id = $2', [
      input.triggerId,
      input.organizationId,
    ]);
    if (!rowCount) throw new ApiError('NOT_FOUND', `trigger ${input.triggerId} not found`);
    const result = await runBacktest(ctx.pool, {
      triggerId: input.triggerId,
      chainId: input.chainId,
      fromBlock: input.fromBlock,
      toBlock: input.toBlock,
    });
    return {
      eventsScanned: result.eventsScanned,
      eligibleEvents: result.eligibleEvents,
      suppressed: result.suppressed,
      firings: result.firings.map((f) => ({
        kind: f.kind,
        eventId: f.event.id,
        blockNumber: f.event.block_number,
        agentKey: f.agentKey,
        at: new Date(f.at * 1000).toISOString(),
        values: f.values,
      })),
    };
  });
