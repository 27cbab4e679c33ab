import { publicProcedure } from '../../trpc/trpc.js';
import { rotateRefreshToken } from '../../../auth/tokens.js';
import { session } from './session.js';
import { refreshMeta, ZRefreshSessionRequest, ZRefreshSessionResponse } from './refresh-session.types.js';

export const refreshRoute = publicProcedure
  .meta(refreshMeta)
  .input(ZRefreshSessionRequest)
  .output(ZRefreshSessionResponse)
  .mutation(async ({ ctx, input }) => {
    const rotated = await rotateRefreshToken(ctx.pool, input.refreshToken);
    return session(ctx, rotated.userId, rotated.refreshToken);
  });
