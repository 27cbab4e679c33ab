import { orgProcedure } from '../../trpc/trpc.js';
import { ApiError } from '../../trpc/errors.js';
import { getTrigger } from '../../../triggers/queries.js';
import { newActionWebhookSecrets } from '../../../actions/webhook-secrets.js';
import { createTriggerMeta, ZCreateTriggerRequest, ZCreateTriggerResponse } from './create-trigger.types.js';

export const createTriggerRoute = orgProcedure('write')
  .meta(createTriggerMeta)
  .input(ZCreateTriggerRequest)
  .output(ZCreateTriggerResponse)
  .mutation(async ({ ctx, input }) => {
    const { organizationId, ...body } = input;
    const userId = await ctx.actingUserOf(organizationId);
    const id = await ctx.triggers.create({ ...body, organizationId, userId });
    const created = await getTrigger(ctx.pool, organizationId, id);
    if (!created) throw new ApiError('NOT_FOUND', `trigger ${id} not found`);
    return {
      ...created,
      webhookSecrets: await newActionWebhookSecrets(ctx.pool, ctx.secrets, organizationId, created.actions),
    };
  });
