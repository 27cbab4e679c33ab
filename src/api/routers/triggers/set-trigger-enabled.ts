import { orgProcedure } from '../../trpc/trpc.js';
import { getTrigger } from '../../../triggers/queries.js';
import {
  setTriggerEnabledMeta,
  ZSetTriggerEnabledRequest,
  ZSetTriggerEnabledResponse,
} from './set-trigger-enabled.types.js';

export const setTriggerEnabledRoute = orgProcedure('write')
  .meta(setTriggerEnabledMeta)
  .input(ZSetTriggerEnabledRequest)
  .output(ZSetTriggerEnabledResponse)
  .mutation(async ({ ctx, input }) => {
    await ctx.triggers.setEnabled(input.triggerId, input.organizationId, input.enabled);
    return (await getTrigger(ctx.pool, input.organizationId, input.triggerId))!;
  });
