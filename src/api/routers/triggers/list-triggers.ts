import { orgProcedure } from '../../trpc/trpc.js';
import { listTriggers } from '../../../triggers/queries.js';
import { listTriggersMeta, ZListTriggersRequest, ZListTriggersResponse } from './list-triggers.types.js';

export const listTriggersRoute = orgProcedure('read')
  .meta(listTriggersMeta)
  .input(ZListTriggersRequest)
  .output(ZListTriggersResponse)
  .query(({ ctx, input }) => listTriggers(ctx.pool, input.organizationId, input));
