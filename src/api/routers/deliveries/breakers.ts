import type { Db } from '../../../db/pool.js';
import { orgProcedure } from '../../trpc/trpc.js';
import { ApiError } from '../../trpc/errors.js';
import { listBreakers, resetBreaker } from '../../../actions/breaker.js';
import { listBreakersMeta, resetBreakerMeta, ZListBreakersRequest, ZListBreakersResponse, ZResetBreakerRequest, ZResetBreakerResponse } from './breakers.types.js';

/** Breakers are shared per destination; an organization sees (and resets) only those of destinations it delivers to. */
async function organizationDestinations(ctx: { pool: Db }, organizationId: string): Promise<string[]> {
  const { rows } = await ctx.pool.query<{ destination: string }>(
    'SELECT DISTINCT destination FROM deliveries WHERE organization_id = $1 AND destination IS NOT NULL',
    [organizationId],
  );
  return rows.map((r) => r.destination);
}

export const listBreakersRoute = orgProcedure('read')
  .meta(listBreakersMeta)
  .input(ZListBreakersRequest)
  .output(ZListBreakersResponse)
  .query(async ({ ctx, input }) => ({ items: await listBreakers(ctx.pool, await organizationDestinations(ctx, input.organizationId)) }));

export const resetBreakerRoute = orgProcedure('admin')
  .meta(resetBreakerMeta)
  .input(ZResetBreakerRequest)
  .output(ZResetBreakerResponse)
  .mutation(async ({ ctx, input }) => {
    if (!(await organizationDestinations(ctx, input.organizationId)).includes(input.destination)) {
      throw new ApiError('NOT_FOUND', `no deliveries of this organization go to ${input.destination}`);
    }
    return { reset: await resetBreaker(ctx.pool, input.destination) };
  });
