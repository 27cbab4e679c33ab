import { publicProcedure } from '../../trpc/trpc.js';
import { verifyEmail } from '../../../auth/email-verification.js';
import { verifyEmailMeta, ZVerifyEmailRequest, ZVerifyEmailResponse } from './verify-email.types.js';

export const verifyEmailRoute = publicProcedure
  .meta(verifyEmailMeta)
  .input(ZVerifyEmailRequest)
  .output(ZVerifyEmailResponse)
  .mutation(async ({ ctx, input }) => {
    const { email } = await verifyEmail(ctx.pool, input.token);
    return { verified: true as const, email };
  });
