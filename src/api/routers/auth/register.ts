import { publicProcedure } from '../../trpc/trpc.js';
import { registerUser } from '../../../auth/accounts.js';
import { mailEmailVerification } from '../../../auth/email-verification.js';
import { session } from './session.js';
import { registerMeta, ZRegisterRequest, ZRegisterResponse } from './register.types.js';

export const registerRoute = publicProcedure
  .meta(registerMeta)
  .input(ZRegisterRequest)
  .output(ZRegisterResponse)
  .mutation(async ({ ctx, input }) => {
    const user = await registerUser(ctx.pool, input);
    // The account exists either way; a link that could not be mailed can be asked for again.
    await mailEmailVerification({ db: ctx.pool, mailer: ctx.mailer, publicUrl: ctx.publicUrl }, user.userId).catch(
      (err) => ctx.log.warn({ err, userId: user.userId }, 'verification mail not sent'),
    );
    return { ...(await session(ctx, user.userId)), organizationId: user.organizationId };
  });
