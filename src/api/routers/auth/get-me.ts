import { TRPCError } from '@trpc/server';
import { authedProcedure } from '../../trpc/trpc.js';
import { accountProfile } from '../../../auth/accounts.js';
import { meMeta, ZMeRequest, ZMeResponse } from './get-me.types.js';

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
