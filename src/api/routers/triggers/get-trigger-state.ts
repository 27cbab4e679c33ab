import { orgProcedure } from '../../trpc/trpc.js';
import { ApiError } from '../../trpc/errors.js';
import { getTriggerStateMeta, ZGetTriggerStateRequest, ZGetTriggerStateResponse } from './get-trigger-state.types.js';

export const getTriggerStateRoute = orgProcedure('read')
  .meta(getTriggerStateMeta)
  .input(ZGetTriggerStateRequest)
  .output(ZGetTriggerStateResponse)
  .query(async ({ ctx, input }) => {
    const { rowCount } = await ctx.pool.query('SELECT 1 FROM triggers WHERE id = $1 AND organization_id = $2', [input.triggerId, input.organizationId]);
    if (!rowCount) throw new ApiError('NOT_FOUND', `trigger ${input.triggerId} not found`);
    const view = await ctx.triggers.state(input.triggerId);
    const agents = input.agentKey ? { [input.agentKey]: view.state.agents[input.agentKey] ?? null } : view.state.agents;
    return { fired: view.fired, agents, pendingAbsences: Object.keys(view.state.pending).length };
  });
