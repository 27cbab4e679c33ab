import { orgProcedure } from '../../trpc/trpc.js';
import { ApiError } from '../../trpc/errors.js';
import { getTrigger } from '../../../triggers/queries.js';
import { newActionWebhookSecrets } from '../../../actions/webhook-secrets.js';
import { updateTriggerMeta, ZUpdateTriggerRequest, ZUpdateTriggerResponse } from './update-trigger.types.js';

export const updateTriggerRoute = orgProcedure('write')
  .meta(updateTriggerMeta)
  .input(ZUpdateTriggerRequest)
  .output(ZUpdateTriggerResponse)
  .mutation(async ({ ctx, input }) => {
    const { organizationId, triggerId, ...body } = input;
    const existing = await getTrigger(ctx.pool, organizationId, triggerId);
    if (!existing) throw new ApiError('NOT_FOUND', `trigger ${triggerId} not found`);
    const userId = await ctx.actingUserOf(organizationId);
    await ctx.triggers.update(triggerId, { ...body, organizationId, userId });
    const updated = (await getTrigger(ctx.pool, organizationId, triggerId))!;
    const existingIds = existing.actions.map((a) => a.id);
    return {
      ...updated,
      webhookSecrets: await newActionWebhookSecrets(
        ctx.pool,
        ctx.secrets,
        organizationId,
        updated.actions,
        existingIds,
      ),
    };
  });
