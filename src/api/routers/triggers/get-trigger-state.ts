import { orgProcedure } from '../../trpc/trpc.js';
import { ApiError } from '../../trpc/errors.js';
import { countFirings } from '../../../triggers/firing-count.js';
import { getTriggerStateMeta, ZGetTriggerStateRequest, ZGetTriggerStateResponse } from './get-trigger-state.types.js';

export const getTriggerStateRoute = orgProcedure('read')
  .meta(getTriggerStateMeta)
  .input(ZGetTriggerStateRequest)
  .output(ZGetTriggerStateResponse)
  .query(async ({ ctx, input }) => {
    const fired = await countFirings(ctx.pool, input.organizationId, input.triggerId);
    if (fired === undefined) throw new ApiError('NOT_FOUND', `trigger ${input.triggerId} not found`);
    const view = await ctx.triggers.state(input.triggerId);
    const agents = input.agentKey ? { [input.agentKey]: view.state.agents[input.agentKey] ?? null } : view.state.agents;
    return { fired, agents, pendingAbsences: Object.keys(view.state.pending).length };
  });
