import { publicProcedure } from '../../trpc/trpc.js';
import { loginWithPassword } from '../../../auth/accounts.js';
import { session } from './session.js';
import { loginMeta, ZLoginRequest, ZLoginResponse } from './login.types.js';

export const loginRoute = publicProcedure
  .meta(loginMeta)
  .input(ZLoginRequest)
  .output(ZLoginResponse)
  .mutation(async ({ ctx, input }) => {
    const { userId } = await loginWithPassword(ctx.pool, { ...input, ip: ctx.ip });
    return session(ctx, userId);
  });
