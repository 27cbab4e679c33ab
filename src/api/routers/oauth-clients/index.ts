import { router } from '../../trpc/trpc.js';
import { createOAuthClientRoute } from './create-oauth-client.js';
import { deactivateOAuthClientRoute } from './deactivate-oauth-client.js';
import { listOAuthClientsRoute } from './list-oauth-clients.js';

export const oauthClientsRouter = router({
  create: createOAuthClientRoute,
  list: listOAuthClientsRoute,
  deactivate: deactivateOAuthClientRoute,
});
