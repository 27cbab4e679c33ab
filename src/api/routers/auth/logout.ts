import { publicProcedure } from '../../trpc/trpc.js';
import { revokeRefreshToken } from '../../../auth/tokens.js';
import { logoutMeta, ZLogoutRequest, ZLogoutResponse } from './logout.types.js';

export const logoutRoute = publicProcedure
  .meta(logoutMeta)
  .input(ZLogoutRequest)
  .output(ZLogoutResponse)
  .mutation(async ({ ctx, input }) => ({ revoked: await revokeRefreshToken(ctx.pool, input.refreshToken) }));
