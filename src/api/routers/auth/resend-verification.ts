import { TRPCError } from '@trpc/server';
import { authedProcedure } from '../../trpc/trpc.js';
import { mailEmailVerification, RESEND_LIMIT } from '../../../auth/email-verification.js';
import { AuthError } from '../../../auth/errors.js';
import {
  resendVerificationMeta,
  ZResendVerificationRequest,
  ZResendVerificationResponse,
} from './resend-verification.types.js';

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
