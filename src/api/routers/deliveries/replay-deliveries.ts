import { orgProcedure } from '../../trpc/trpc.js';
import { replayDeadLetters } from '../../../deliveries/service.js';
import {
  replayDeliveriesMeta,
  ZReplayDeliveriesRequest,
  ZReplayDeliveriesResponse,
} from './replay-deliveries.types.js';

export const replayDeliveriesRoute = orgProcedure('write')
  .meta(replayDeliveriesMeta)
  .input(ZReplayDeliveriesRequest)
  .output(ZReplayDeliveriesResponse)
  .mutation(async ({ ctx, input }) => ({
    replayed: await replayDeadLetters(ctx.pool, ctx.temporal, ctx.taskQueue, {
      organizationId: input.organizationId,
      idempotencyKey: input.idempotencyKey,
      triggerId: input.triggerId,
      since: input.since ? new Date(input.since) : undefined,
    }),
  }));
