import { orgProcedure } from '../../trpc/trpc.js';
import { getAccountWithHolds } from '../../../billing/ledger.js';
import { getAccountMeta, ZGetAccountRequest, ZGetAccountResponse } from './get-account.types.js';
import { holdToOutput } from './schema.js';

export const getAccountRoute = orgProcedure('read')
  .meta(getAccountMeta)
  .input(ZGetAccountRequest)
  .output(ZGetAccountResponse)
  .query(async ({ ctx, input }) => {
    const account = await getAccountWithHolds(ctx.pool, input.organizationId);
    return { ...account, holds: account.holds.map(holdToOutput) };
  });
