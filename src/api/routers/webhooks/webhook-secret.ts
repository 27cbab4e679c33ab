import { orgProcedure } from '../../trpc/trpc.js';
import { currentWebhookSecret, rotateWebhookSecret } from '../../../actions/webhook-secrets.js';
import { getWebhookSecretMeta, rotateWebhookSecretMeta, ZGetWebhookSecretRequest, ZRotateWebhookSecretRequest, ZWebhookSecretResponse } from './webhook-secret.types.js';

export const getWebhookSecretRoute = orgProcedure('admin')
  .meta(getWebhookSecretMeta)
  .input(ZGetWebhookSecretRequest)
  .output(ZWebhookSecretResponse)
  .query(async ({ ctx, input }) => ({ secret: await currentWebhookSecret(ctx.pool, ctx.secrets, input.organizationId), scheme: 'standard-webhooks-v1' as const }));

export const rotateWebhookSecretRoute = orgProcedure('admin')
  .meta(rotateWebhookSecretMeta)
  .input(ZRotateWebhookSecretRequest)
  .output(ZWebhookSecretResponse)
  .mutation(async ({ ctx, input }) => ({ secret: await rotateWebhookSecret(ctx.pool, ctx.secrets, input.organizationId, input.windowHours), scheme: 'standard-webhooks-v1' as const }));
