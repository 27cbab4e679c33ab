import { TRPCError } from '@trpc/server';
import { authedProcedure, publicProcedure } from '../../trpc/trpc.js';
import { accountProfile, loginWithPassword, registerUser } from '../../../auth/accounts.js';
import { mailEmailVerification, RESEND_LIMIT, verifyEmail } from '../../../auth/email-verification.js';
import { issueRefreshToken, revokeRefreshToken, rotateRefreshToken } from '../../../auth/tokens.js';
import { issueSiweNonce, verifySiwe } from '../../../auth/siwe.js';
import type { ApiContext } from '../../trpc/context.js';
import { AuthError } from '../../../auth/errors.js';
import {
  loginMeta,
  logoutMeta,
  meMeta,
  refreshMeta,
  registerMeta,
  resendVerificationMeta,
  siweNonceMeta,
  siweVerifyMeta,
  verifyEmailMeta,
  ZLoginRequest,
  ZLogoutResponse,
  ZMeRequest,
  ZMeResponse,
  ZRefreshRequest,
  ZRegisterRequest,
  ZResendVerificationRequest,
  ZResendVerificationResponse,
  ZSessionResponse,
  ZSiweNonceRequest,
  ZSiweNonceResponse,
  ZSiweVerifyRequest,
  ZVerifyEmailRequest,
  ZVerifyEmailResponse,
} from './auth.types.js';

async function session(ctx: ApiContext, userId: string, refreshToken?: string) {
  const refresh = refreshToken ?? (await issueRefreshToken(ctx.pool, userId)).refreshToken;
  return {
    userId,
    accessToken: await ctx.tokens.signAccessToken(userId),
    refreshToken: refresh,
    tokenType: 'Bearer' as const,
    expiresIn: ctx.tokens.accessTokenTtlSeconds,
  };
}

export const registerRoute = publicProcedure
  .meta(registerMeta)
  .input(ZRegisterRequest)
  .output(ZSessionResponse)
  .mutation(async ({ ctx, input }) => {
    const user = await registerUser(ctx.pool, input);
    // The account exists either way; a link that could not be mailed can be asked for again.
    await mailEmailVerification({ db: ctx.pool, mailer: ctx.mailer, publicUrl: ctx.publicUrl }, user.userId).catch(
      (err) => ctx.log.warn({ err, userId: user.userId }, 'verification mail not sent'),
    );
    return { ...(await session(ctx, user.userId)), organizationId: user.organizationId };
  });

export const loginRoute = publicProcedure
  .meta(loginMeta)
  .input(ZLoginRequest)
  .output(ZSessionResponse)
  .mutation(async ({ ctx, input }) => {
    const { userId } = await loginWithPassword(ctx.pool, { ...input, ip: ctx.ip });
    return session(ctx, userId);
  });

export const refreshRoute = publicProcedure
  .meta(refreshMeta)
  .input(ZRefreshRequest)
  .output(ZSessionResponse)
  .mutation(async ({ ctx, input }) => {
    const rotated = await rotateRefreshToken(ctx.pool, input.refreshToken);
    return session(ctx, rotated.userId, rotated.refreshToken);
  });

export const logoutRoute = publicProcedure
  .meta(logoutMeta)
  .input(ZRefreshRequest)
  .output(ZLogoutResponse)
  .mutation(async ({ ctx, input }) => ({ revoked: await revokeRefreshToken(ctx.pool, input.refreshToken) }));

export const meRoute = authedProcedure
  .meta(meMeta)
  .input(ZMeRequest)
  .output(ZMeResponse)
  .query(async ({ ctx }) => {
    if (ctx.subject.kind !== 'user')
      throw new TRPCError({
        code: 'FORBIDDEN',
        message: 'only a signed-in user has a profile; API keys belong to an organization',
      });
    const profile = await accountProfile(ctx.pool, ctx.subject.userId);
    if (!profile) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'the account no longer exists' });
    return profile;
  });

export const siweNonceRoute = publicProcedure
  .meta(siweNonceMeta)
  .input(ZSiweNonceRequest)
  .output(ZSiweNonceResponse)
  .query(({ ctx }) => {
    const { nonce, expiresAt } = issueSiweNonce(ctx.siweSecret);
    return { nonce, expiresAt: expiresAt.toISOString(), domain: ctx.siweDomain };
  });

export const siweVerifyRoute = publicProcedure
  .meta(siweVerifyMeta)
  .input(ZSiweVerifyRequest)
  .output(ZSessionResponse)
  .mutation(async ({ ctx, input }) => {
    const login = await verifySiwe(ctx.pool, {
      message: input.message,
      signature: input.signature,
      domain: ctx.siweDomain,
      secret: ctx.siweSecret,
    });
    return session(ctx, login.userId);
  });

export const verifyEmailRoute = publicProcedure
  .meta(verifyEmailMeta)
  .input(ZVerifyEmailRequest)
  .output(ZVerifyEmailResponse)
  .mutation(async ({ ctx, input }) => {
    const { email } = await verifyEmail(ctx.pool, input.token);
    return { verified: true as const, email };
  });

export const resendVerificationRoute = authedProcedure
  .meta(resendVerificationMeta)
  .input(ZResendVerificationRequest)
  .output(ZResendVerificationResponse)
  .mutation(async ({ ctx }) => {
    if (ctx.subject.kind !== 'user')
      throw new TRPCError({ code: 'FORBIDDEN', message: 'only a signed-in user has an email address to verify' });
    const userId = ctx.subject.userId;
    // Per account, on top of the caller's request limit: each call sends a mail to an address we do not know is theirs.
    const decision = await ctx.rateLimiter.consume(
      `mail:verify:user:${userId}`,
      RESEND_LIMIT.limit,
      RESEND_LIMIT.windowSeconds,
    );
    if (!decision.allowed) {
      throw new TRPCError({
        code: 'TOO_MANY_REQUESTS',
        message: `at most ${RESEND_LIMIT.limit} verification mails per hour; retry in ${decision.retryAfterSeconds} s`,
      });
    }
    try {
      const issued = await mailEmailVerification(
        { db: ctx.pool, mailer: ctx.mailer, publicUrl: ctx.publicUrl },
        userId,
      );
      return { sent: true as const, email: issued.email, expiresAt: issued.expiresAt.toISOString() };
    } catch (err) {
      if (err instanceof AuthError) throw err;
      ctx.log.error({ err, userId }, 'verification mail not sent');
      throw new TRPCError({ code: 'SERVICE_UNAVAILABLE', message: 'the mail could not be sent; try again later' });
    }
  });
