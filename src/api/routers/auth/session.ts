import type { ApiContext } from '../../trpc/context.js';
import { issueRefreshToken } from '../../../auth/tokens.js';

/** The tokens a sign-in answers with; a new refresh token family unless one is given (a rotation). */
export async function session(ctx: ApiContext, userId: string, refreshToken?: string) {
  const refresh = refreshToken ?? (await issueRefreshToken(ctx.pool, userId)).refreshToken;
  return {
    userId,
    accessToken: await ctx.tokens.signAccessToken(userId),
    refreshToken: refresh,
    tokenType: 'Bearer' as const,
    expiresIn: ctx.tokens.accessTokenTtlSeconds,
  };
}
