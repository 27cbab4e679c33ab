import { router } from '../../trpc/trpc.js';
import { createApiKeyRoute } from './create-api-key.js';
import { listApiKeysRoute } from './list-api-keys.js';
import { revokeApiKeyRoute } from './revoke-api-key.js';
import { rotateApiKeyRoute } from './rotate-api-key.js';

export const apiKeysRouter = router({
  create: createApiKeyRoute,
  list: listApiKeysRoute,
  revoke: revokeApiKeyRoute,
  rotate: rotateApiKeyRoute,
});
