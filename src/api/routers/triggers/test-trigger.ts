import { orgProcedure } from '../../trpc/trpc.js';
import { ApiError } from '../../trpc/errors.js';
import { TRIGGER_EVENT_COLUMNS } from '../../../triggers/event-row.js';
import { buildTemplateContext } from '../../../actions/templates.js';
import { renderAction, type ActionConfigInput } from '../../../deliveries/render.js';
import { compileDefinition } from '../../../triggers/definition.js';
import { evaluate, initialState, type TriggerEvent } from '../../../triggers/engine.js';
import { getTrigger } from '../../../triggers/queries.js';
import { templateStateKeys } from '../../../triggers/store.js';
import { testTriggerMeta, ZTestTriggerRequest, ZTestTriggerResponse } from './test-trigger.types.js';

/** Evaluates with a fresh state (the event alone), exactly as the workflow's evaluator would, and renders every action. */
export const testTriggerRoute = orgProcedure('read')
  .meta(testTriggerMeta)
  .input(ZTestTriggerRequest)
  .output(ZTestTriggerResponse)
  .mutation(async ({ ctx, input }) => {
    const stored = input.triggerId ? await getTrigger(ctx.pool, input.organizationId, input.triggerId) : undefined;
    if (input.triggerId && !stored) throw new ApiError('NOT_FOUND', `trigger ${input.triggerId} not found`);
    const body = stored ?? {
      ...input.definition!,
      id: 'test',
      conditions: input.definition!.conditions.map((c, i) => ({
        id: i + 1,
        field: '',
        operator: '=',
        value: '',
        config: null,
        ...c,
      })),
    };
    const def = compileDefinition({
      id: stored?.id ?? 'test',
      organizationId: input.organizationId,
      name: body.name,
      chainId: body.chainId,
      registry: body.registry,
      enabled: true,
      settings: { cooldown_seconds: 0, hysteresis: false, start_block: null, ...body.settings },
      conditions: body.conditions.map((c) => ({ ...c, key: String(c.id) })) as never,
    });
    let event: TriggerEvent;
    if (input.eventSeq) {
      const { rows } = await ctx.pool.query<TriggerEvent>(
        `SELECT ${TRIGGER_EVENT_COLUMNS}, file_hash, client_address FROM events WHERE ingest_seq = $1`,
        [input.eventSeq],
      );
      if (!rows[0]) throw new ApiError('NOT_FOUND', `event ${input.eventSeq} not found`);
      event = rows[0];
    } else {
      const e = input.event!;
      event = { ...e, ingest_seq: '0', id: `${e.chain_id}-${e.block_number}-${e.log_index}` };
    }
    const evaluation = evaluate(def, initialState(), event);
    const context = buildTemplateContext({
      event: event as unknown as Record<string, unknown>,
      trigger: {
        id: def.id,
        name: def.name,
        chain_id: def.chainId,
        registry: def.registry,
        organization_id: input.organizationId,
      },
      agentKey: evaluation.agentKey,
      values: evaluation.values,
      stateKeys: templateStateKeys(body.conditions),
      firedAt: new Date(),
      kind: 'match',
    });
    const actions = (
      stored?.actions ?? input.definition!.actions.map((a) => ({ ...a, priority: a.priority ?? 1 }))
    ).map((a) => {
      try {
        // The action as the request schema let it through (not necessarily saved): rendered as its sender would.
        const config = a.config as ActionConfigInput[typeof a.action_type];
        const preview = renderAction(a.action_type, config, context);
        return { actionType: a.action_type, priority: a.priority, preview };
      } catch (err) {
        return { actionType: a.action_type, priority: a.priority, preview: null, error: (err as Error).message };
      }
    });
    return {
      eligible: evaluation.eligible,
      matched: evaluation.matched,
      fired: evaluation.fired,
      values: evaluation.values,
      actions,
    };
  });
