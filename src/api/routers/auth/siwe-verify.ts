import { publicProcedure } from '../../trpc/trpc.js';
import { verifySiwe } from '../../../auth/siwe.js';
import { session } from './session.js';
import { siweVerifyMeta, ZSiweVerifyRequest, ZSiweVerifyResponse } from './siwe-verify.types.js';

export const siweVerifyRoute = publicProcedure
  .meta(siweVerifyMeta)
  .input(ZSiweVerifyRequest)
  .output(ZSiweVerifyResponse)
  .mutation(async ({ ctx, input }) => {
    const login = await verifySiwe(ctx.pool, {
      message: input.message,
      signature: input.signature,
      domain: ctx.siweDomain,
      secret: ctx.siweSecret,
    });
    return session(ctx, login.userId);
  });
