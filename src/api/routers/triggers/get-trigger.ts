import { orgProcedure } from '../../trpc/trpc.js';
import { ApiError } from '../../trpc/errors.js';
import { getTrigger } from '../../../triggers/queries.js';
import { getTriggerMeta, ZGetTriggerRequest, ZGetTriggerResponse } from './get-trigger.types.js';

export const getTriggerRoute = orgProcedure('read')
  .meta(getTriggerMeta)
  .input(ZGetTriggerRequest)
  .output(ZGetTriggerResponse)
  .query(async ({ ctx, input }) => {
    const trigger = await getTrigger(ctx.pool, input.organizationId, input.triggerId);
    if (!trigger) throw new ApiError('NOT_FOUND', `trigger ${input.triggerId} not found`);
    return trigger;
  });
