import { orgProcedure } from '../../trpc/trpc.js';
import { listBreakers, resetBreaker } from '../../../actions/breaker.js';
import {
  listBreakersMeta,
  resetBreakerMeta,
  ZListBreakersRequest,
  ZListBreakersResponse,
  ZResetBreakerRequest,
  ZResetBreakerResponse,
} from './breakers.types.js';

/** Breakers are per organization and destination: an organization sees (and resets) its own only. */
export const listBreakersRoute = orgProcedure('read')
  .meta(listBreakersMeta)
  .input(ZListBreakersRequest)
  .output(ZListBreakersResponse)
  .query(async ({ ctx, input }) => ({ items: await listBreakers(ctx.pool, input.organizationId) }));

export const resetBreakerRoute = orgProcedure('admin')
  .meta(resetBreakerMeta)
  .input(ZResetBreakerRequest)
  .output(ZResetBreakerResponse)
  .mutation(async ({ ctx, input }) => ({
    reset: await resetBreaker(ctx.pool, input.organizationId, input.destination),
  }));
