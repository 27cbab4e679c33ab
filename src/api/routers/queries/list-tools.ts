import { publicProcedure } from '../../trpc/trpc.js';
import { listToolsMeta, ZListToolsRequest, ZListToolsResponse } from './list-tools.types.js';

export const listToolsRoute = publicProcedure
  .meta(listToolsMeta)
  .input(ZListToolsRequest)
  .output(ZListToolsResponse)
  .query(({ ctx }) => ({ currency: 'USDC' as const, tools: ctx.queries.describeTools() }));
