import { TRPCError } from '@trpc/server';
import { authedProcedure, publicProcedure } from '../../trpc/trpc.js';
import { loginWithPassword, registerUser } from '../../../auth/accounts.js';
import { mailEmailVerification, RESEND_LIMIT, verifyEmail } from '../../../auth/email-verification.js';
import { hashRefreshToken, issueRefreshToken, revokeRefreshFamily, rotateRefreshToken } from '../../../auth/tokens.js';
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
  .mutation(async ({ ctx, input }) => {
    const { rows } = await ctx.pool.query<{ family_id: string }>(
      'SELECT family_id FROM refresh_tokens WHERE token_hash = $1',
      [hashRefreshToken(input.refreshToken)],
    );
    return { revoked: rows[0] ? await revokeRefreshFamily(ctx.pool, rows[0].family_id) : 0 };
  });

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
    const userId = ctx.subject.userId;
    const { rows: users } = await ctx.pool.query(
      'SELECT id, username, email, email_verified_at IS NOT NULL AS email_verified, wallet_address FROM users WHERE id = $1 AND is_active',
      [userId],
    );
    if (!users[0]) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'the account no longer exists' });
    const { rows: orgs } = await ctx.pool.query(
      `SELECT o.id, o.name, o.slug, o.plan, o.is_personal, CASE WHEN o.owner_id = $1 THEN 'owner' ELSE m.role END AS role
     FROM organizations o LEFT JOIN organization_members m ON m.organization_id = o.id AND m.user_id = $1
     WHERE o.is_active AND (o.owner_id = $1 OR m.user_id IS NOT NULL) ORDER BY o.created_at`,
      [userId],
    );
    return {
      user: {
        id: users[0].id,
        username: users[0].username,
        email: users[0].email,
        emailVerified: users[0].email_verified,
        walletAddress: users[0].wallet_address,
      },
      organizations: orgs.map((o) => ({
        id: o.id,
        name: o.name,
        slug: o.slug,
        plan: o.plan,
        role: o.role,
        isPersonal: o.is_personal,
      })),
    };
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
