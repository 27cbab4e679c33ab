import { orgProcedure } from '../../trpc/trpc.js';
import { ApiError } from '../../trpc/errors.js';
import {
  currentWebhookSecret,
  findWebhookAction,
  rotateWebhookSecret,
  type ActionWebhookSecret,
} from '../../../actions/webhook-secrets.js';
import type { Db } from '../../../db/pool.js';
import {
  getWebhookSecretMeta,
  rotateWebhookSecretMeta,
  ZGetWebhookSecretRequest,
  ZRotateWebhookSecretRequest,
  ZWebhookSecretResponse,
} from './webhook-secret.types.js';

async function actionOf(db: Db, input: { organizationId: string; triggerId: string; actionId: number }) {
  const action = await findWebhookAction(db, input.organizationId, input.triggerId, input.actionId);
  if (!action) throw new ApiError('NOT_FOUND', `trigger ${input.triggerId} has no REST action ${input.actionId}`);
  return action;
}

const response = (actionId: number, s: ActionWebhookSecret) => ({
  actionId,
  secret: s.secret,
  previousSecret: s.previousSecret,
  previousValidUntil: s.previousValidUntil?.toISOString() ?? null,
  scheme: 'standard-webhooks-v1' as const,
});

// Admins only: whoever holds an action's secret can sign bodies its receiver accepts.
export const getWebhookSecretRoute = orgProcedure('admin')
  .meta(getWebhookSecretMeta)
  .input(ZGetWebhookSecretRequest)
  .output(ZWebhookSecretResponse)
  .query(async ({ ctx, input }) => {
    const action = await actionOf(ctx.pool, input);
    return response(action.actionId, await currentWebhookSecret(ctx.pool, ctx.secrets, action));
  });

export const rotateWebhookSecretRoute = orgProcedure('admin')
  .meta(rotateWebhookSecretMeta)
  .input(ZRotateWebhookSecretRequest)
  .output(ZWebhookSecretResponse)
  .mutation(async ({ ctx, input }) => {
    const action = await actionOf(ctx.pool, input);
    return response(action.actionId, await rotateWebhookSecret(ctx.pool, ctx.secrets, action, input.windowHours));
  });
