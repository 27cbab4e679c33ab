import { orgProcedure } from '../../trpc/trpc.js';
import { ApiError } from '../../trpc/errors.js';
import { getTriggerStateMeta, ZGetTriggerStateRequest, ZGetTriggerStateResponse } from './get-trigger-state.types.js';

export const getTriggerStateRoute = orgProcedure('read')
  .meta(getTriggerStateMeta)
  .input(ZGetTriggerStateRequest)
  .output(ZGetTriggerStateResponse)
  .query(async ({ ctx, input }) => {
    // Firings are counted from what is recorded: a trigger that depends on the event alone is evaluated by the relay,
    // and its workflow never sees them.
    const { rows } = await ctx.pool.query<{ fired: string }>(
      `SELECT (SELECT count(*) FROM trigger_matches m WHERE m.trigger_id = t.id) AS fired FROM triggers t WHERE t.id = $1 AND t.organization_id = $2`,
      [input.triggerId, input.organizationId],
    );
    if (rows.length === 0) throw new ApiError('NOT_FOUND', `trigger ${input.triggerId} not found`);
    const view = await ctx.triggers.state(input.triggerId);
    const agents = input.agentKey ? { [input.agentKey]: view.state.agents[input.agentKey] ?? null } : view.state.agents;
    return { fired: Number(rows[0]!.fired), agents, pendingAbsences: Object.keys(view.state.pending).length };
  });
