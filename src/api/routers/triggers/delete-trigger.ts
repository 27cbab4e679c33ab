import { orgProcedure } from '../../trpc/trpc.js';
import { deleteTriggerMeta, ZDeleteTriggerRequest, ZDeleteTriggerResponse } from './delete-trigger.types.js';

export const deleteTriggerRoute = orgProcedure('delete')
  .meta(deleteTriggerMeta)
  .input(ZDeleteTriggerRequest)
  .output(ZDeleteTriggerResponse)
  .mutation(async ({ ctx, input }) => {
    await ctx.triggers.delete(input.triggerId, input.organizationId);
    return { deleted: true as const };
  });
