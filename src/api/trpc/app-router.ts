/** The API's router: its type is what TypeScript clients import (`import type { AppRouter } from 'erc8004-backend/client'`). */
import { router } from './trpc.js';
import { apiKeysRouter } from '../routers/api-keys/index.js';
import { authRouter } from '../routers/auth/index.js';
import { billingRouter } from '../routers/billing/index.js';
import { organizationsRouter } from '../routers/organizations/index.js';
import { deliveriesRouter } from '../routers/deliveries/index.js';
import { eventsRouter } from '../routers/events/index.js';
import { queriesRouter } from '../routers/queries/index.js';
import { oauthClientsRouter } from '../routers/oauth-clients/index.js';
import { triggersRouter } from '../routers/triggers/index.js';
import { telegramRouter } from '../routers/telegram/index.js';
import { webhooksRouter } from '../routers/webhooks/index.js';
import { agentsRouter } from '../routers/agents/index.js';

export const appRouter = router({
  auth: authRouter,
  organizations: organizationsRouter,
  apiKeys: apiKeysRouter,
  oauthClients: oauthClientsRouter,
  triggers: triggersRouter,
  events: eventsRouter,
  deliveries: deliveriesRouter,
  webhooks: webhooksRouter,
  telegram: telegramRouter,
  billing: billingRouter,
  queries: queriesRouter,
  agents: agentsRouter,
});

export type AppRouter = typeof appRouter;
