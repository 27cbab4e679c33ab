import { router } from '../../trpc/trpc.js';
import { getWebhookSecretRoute, rotateWebhookSecretRoute } from './webhook-secret.js';

export const webhooksRouter = router({ secret: getWebhookSecretRoute, rotateSecret: rotateWebhookSecretRoute });
