import { router } from '../../trpc/trpc.js';
import { createApiKeyRoute, listApiKeysRoute, revokeApiKeyRoute, rotateApiKeyRoute } from './api-keys.js';

export const apiKeysRouter = router({
  create: createApiKeyRoute,
  list: listApiKeysRoute,
  revoke: revokeApiKeyRoute,
  rotate: rotateApiKeyRoute,
});
