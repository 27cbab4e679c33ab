import { publicProcedure } from '../../trpc/trpc.js';
import { issueSiweNonce } from '../../../auth/siwe.js';
import { siweNonceMeta, ZSiweNonceRequest, ZSiweNonceResponse } from './siwe-nonce.types.js';

export const siweNonceRoute = publicProcedure
  .meta(siweNonceMeta)
  .input(ZSiweNonceRequest)
  .output(ZSiweNonceResponse)
  .query(({ ctx }) => {
    const { nonce, expiresAt } = issueSiweNonce(ctx.siweSecret);
    return { nonce, expiresAt: expiresAt.toISOString(), domain: ctx.siweDomain };
  });
