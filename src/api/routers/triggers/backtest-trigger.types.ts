import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { triggerIdInput } from './schema.js';

/** The longest block range one API backtest scans. */
export const MAX_BACKTEST_BLOCKS = 5_000_000;

export const backtestTriggerMeta: ApiMeta = {
  openapi: {
    method: 'POST',
    path: '/organizations/{organizationId}/triggers/{triggerId}/backtest',
    tags: ['Triggers'],
    protect: true,
    summary: 'Run the trigger over stored events of a block range; lists where it would have fired (no action runs)',
    description: `Rules JSON Schema cannot state (400): toBlock must not be below fromBlock; at most ${MAX_BACKTEST_BLOCKS.toLocaleString('en')} blocks per backtest; chainId must be the trigger's chain.`,
  },
};
export const ZBacktestTriggerRequest = triggerIdInput.extend({
  chainId: z.number().int().positive(),
  fromBlock: z.number().int().min(0),
  toBlock: z.number().int().min(0),
});
export const ZBacktestTriggerResponse = z.object({
  eventsScanned: z.number(),
  eligibleEvents: z.number(),
  suppressed: z.object({ cooldown: z.number(), hysteresis: z.number() }),
  firings: z.array(
    z.object({
      kind: z.enum(['match', 'absence']),
      eventId: z.string(),
      blockNumber: z.number(),
      agentKey: z.string(),
      at: z.string(),
      values: z.unknown().optional(),
    }),
  ),
});
