import { orgProcedure } from '../../trpc/trpc.js';
import {
  listLinkedAgentsMeta,
  ZListLinkedAgentsRequest,
  ZListLinkedAgentsResponse,
} from './list-linked-agents.types.js';
import { toLinkOutput } from './schema.js';

export const listLinkedAgentsRoute = orgProcedure('read')
  .meta(listLinkedAgentsMeta)
  .input(ZListLinkedAgentsRequest)
  .output(ZListLinkedAgentsResponse)
  .query(async ({ ctx, input }) => ({
    items: (await ctx.agents.links.list(input.organizationId, { includeInactive: input.includeInactive })).map(
      toLinkOutput,
    ),
  }));
