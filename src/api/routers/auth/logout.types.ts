import { z } from 'zod';
import { authPost, ZRefreshRequest } from './schema.js';

export const logoutMeta = authPost('/auth/logout', 'Revoke a refresh token and its family');
export const ZLogoutResponse = z.object({ revoked: z.number() });
export const ZLogoutRequest = ZRefreshRequest;
