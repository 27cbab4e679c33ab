import { authPost, ZRefreshRequest, ZSessionResponse } from './schema.js';

export const refreshMeta = authPost(
  '/auth/refresh',
  'Exchange a refresh token for new tokens (refresh tokens rotate; reuse revokes the family)',
);
export const ZRefreshSessionRequest = ZRefreshRequest;
export const ZRefreshSessionResponse = ZSessionResponse;
