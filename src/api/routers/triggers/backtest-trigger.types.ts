import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { triggerIdInput } from './schema.js';

export const backtestTriggerMeta: ApiMeta = {
  openapi: {
    method: 'POST', path: '/organizations/{organizationId}/triggers/{triggerId}/backtest', tags: ['Triggers'], protect: true,
    summary: 'Run the trigger over stored events of a block range; lists where it would have fired (no action runs)',
  },
};
export const ZBacktestTriggerRequest = triggerIdInput
  .extend({ chainId: z.number().int().positive(), fromBlock: z.number().int().min(0), toBlock: z.number().int().min(0) })
  .refine((v) => v.toBlock >= v.fromBlock, { message: 'must not be below fromBlock', path: ['toBlock'] })
  .refine((v) => v.toBlock - v.fromBlock <= 5_000_000, { message: 'at most 5,000,000 blocks per backtest', path: ['toBlock'] });
export const ZBacktestTriggerResponse = z.object({
  eventsScanned: z.number(),
  eligibleEvents: z.number(),
  suppressed: z.object({ cooldown: z.number(), hysteresis: z.number() }),
  firings: z.array(z.object({ kind: z.enum(['match', 'absence']), eventId: z.string(), blockNumber: z.number(), agentKey: z.string(), at: z.string(), values: z.unknown().optional() })),
});
