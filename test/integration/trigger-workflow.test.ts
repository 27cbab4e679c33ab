/**
 * Trigger workflows on the real Temporal dev server, fed through the real relay and dispatcher.
 */
import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Relay } from '../../src/relay/relay.js';
import { TriggerDispatcher } from '../../src/relay/trigger-dispatcher.js';
import { retractAbove } from '../../src/indexer/store.js';
import { TriggerService } from '../../src/triggers/service.js';
import { triggerWorkflowId } from '../../src/triggers/search-attributes.js';
import type { TriggerWrite } from '../../src/triggers/store.js';
import { configUpdate, eventsSignal } from '../../workflows/trigger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { eventually } from '../helpers/wait.js';
import { startTestTemporal, type TestTemporal } from '../helpers/temporal.js';
import { appendEvents, feedbackRecord, insertOrganization, insertUser } from '../helpers/fixtures.js';
import { testLogger } from '../helpers/logger.js';

let db: TestDatabase;
let temporal: TestTemporal;
let client: Client;
let service: TriggerService;
let relay: Relay;
let dispatcher: TriggerDispatcher;
let orgId: string;
let userId: string;
let taskQueue: string;
const chainId = 31337;

beforeAll(async () => {
  db = await createTestDatabase();
  temporal = await startTestTemporal(db, 'triggers');
  ({ taskQueue, client } = temporal);
  service = new TriggerService({
    pool: db.pool,
    temporal: client,
    taskQueue,
    logger: testLogger,
    workflowOptions: { continueAsNewAfterSignals: 4, snapshotEveryMs: 100 },
  });
  dispatcher = new TriggerDispatcher({
    pool: db.pool,
    temporal: client,
    taskQueue,
    logger: testLogger,
    maxItemsPerSignal: 3,
    // The candidates from the in-memory index (the other trigger test files route with the query).
    databaseUrl: db.url,
  });
  relay = new Relay({ pool: db.pool, databaseUrl: db.url, logger: testLogger, dispatcher });
  userId = await insertUser(db.pool);
  orgId = await insertOrganization(db.pool, userId);
});

afterAll(async () => {
  await dispatcher?.close();
  await temporal?.close();
  await db?.drop();
});

let block = 100;
let ts = 1_767_225_600;
/** Appends feedback events (one block each) and relays them to the trigger workflows. */
async function feed(...values: { agent?: string; value: string; decimals?: number; tag1?: string }[]) {
  const records = values.map((v) => {
    block++;
    ts += 60;
    return feedbackRecord({
      chain_id: chainId,
      block_number: block,
      timestamp: ts,
      agent_id: v.agent ?? '0',
      value: v.value,
      value_decimals: v.decimals ?? 0,
      tag1: v.tag1 ?? 'q',
    });
  });
  await appendEvents(db.pool, records);
  await relay.catchUp();
  return records;
}

function trigger(
  name: string,
  conditions: TriggerWrite['conditions'],
  extra: Partial<TriggerWrite> = {},
): TriggerWrite {
  return { organizationId: orgId, userId, name, chainId, registry: 'reputation', conditions, ...extra };
}

async function matches(triggerId: string) {
  const { rows } = await db.pool.query(
    `SELECT m.kind, e.value, e.agent_id, m.evaluation FROM trigger_matches m JOIN events e ON e.ingest_seq = m.event_seq WHERE m.trigger_id = $1 ORDER BY m.event_seq`,
    [triggerId],
  );
  return rows;
}

const emaOf = async (id: string, agent = `${chainId}:0`) => {
  const view = await service.state(id);
  const cond = Object.values(view.state.agents[agent]?.conditions ?? {})[0];
  return cond?.kind === 'ema' ? cond.ema : undefined;
};

describe('trigger workflow', () => {
  it('fires on matching events only, sees only events after its creation, and records each firing once (evaluated by the relay)', async () => {
    await feed({ value: '1' }); // before the trigger exists: never seen
    const id = await service.create(
      trigger('low score', [{ condition_type: 'score_threshold', field: 'value', operator: '<', value: '50' }]),
    );
    await feed(
      { value: '70' },
      { value: '-5', decimals: 1 },
      { value: '4999', decimals: 2 },
      { value: '5000', decimals: 2 },
    );
    const rows = await eventually(
      () => matches(id),
      (r) => r.length >= 2,
    );
    expect(rows.map((r) => r.value)).toEqual(['-5', '4999']);
    // The relay replays the same items (a lost acknowledgement): nothing fires twice.
    const handle = client.workflow.getHandle(triggerWorkflowId(id));
    const { rows: last } = await db.pool.query(
      `SELECT ingest_seq::text AS s FROM events ORDER BY ingest_seq DESC LIMIT 4`,
    );
    await db.pool.query(`UPDATE relay_cursors SET position = $1 WHERE name = 'triggers'`, [Number(last[3].s) - 1]);
    await relay.catchUp();
    await handle.signal(eventsSignal, { items: [] });
    // A later matching event fires after the replayed ones were evaluated: only then is "nothing twice" checked.
    await feed({ value: '3' });
    const after = await eventually(
      () => matches(id),
      (r) => r.some((m) => m.value === '3'),
    );
    expect(after.map((r) => r.value)).toEqual(['-5', '4999', '3']);
  });

  it('a trigger that fires per event is evaluated by the relay, without signals; an edit that adds state moves it to its workflow', async () => {
    const id = await service.create(
      trigger('per event', [
        { condition_type: 'agent_id_equals', operator: '=', value: '77' },
        { condition_type: 'score_threshold', field: 'value', operator: '>=', value: '10' },
      ]),
    );
    const evaluatedBefore = dispatcher.evaluatedInRelay;
    await feed(
      { agent: '77', value: '5' },
      { agent: '77', value: '10' },
      { agent: '78', value: '99' },
      { agent: '77', value: '11' },
    );
    expect((await matches(id)).map((r) => r.value)).toEqual(['10', '11']);
    // At least this trigger's three events of agent 77 (other per-event triggers of this file see them too).
    expect(dispatcher.evaluatedInRelay - evaluatedBefore).toBeGreaterThanOrEqual(3);
    const view = await eventually(
      () => service.state(id),
      (v) => v.definition !== null,
    );
    expect(view.signalsThisRun).toBe(0);
    // Its deliveries start as they would from the workflow (this trigger has no actions: none).
    expect((await db.pool.query('SELECT 1 FROM deliveries WHERE trigger_id = $1', [id])).rowCount).toBe(0);

    // A stateful condition makes the workflow hold state: from the edit on, events go to it.
    await service.update(
      id,
      trigger('per event', [
        { condition_type: 'agent_id_equals', operator: '=', value: '77' },
        { condition_type: 'rate_limit', operator: '>=', value: '2', config: { time_window: '7d' } },
      ]),
    );
    await feed({ agent: '77', value: '1' }, { agent: '77', value: '2' });
    const rows = await eventually(
      () => matches(id),
      (r) => r.length >= 3,
    );
    expect(rows.map((r) => r.value)).toEqual(['10', '11', '2']);
    const after = await service.state(id);
    expect(after.signalsThisRun).toBeGreaterThan(0);
    expect(Object.keys(after.state.agents)).toEqual([`${chainId}:77`]);
  });

  it('routes each event to exactly the triggers it may concern (agent prefilter, any agent, event type, chain, enabled, active organization)', async () => {
    const per = (name: string, conditions: TriggerWrite['conditions'], extra: Partial<TriggerWrite> = {}) =>
      service.create(trigger(name, conditions, extra));
    const a = await per('agent 501', [{ condition_type: 'agent_id_equals', operator: '=', value: '501' }]);
    const anyAgent = await per('any agent', [
      { condition_type: 'event_type_equals', operator: '=', value: 'NewFeedback' },
    ]);
    const revoked = await per('revocations', [
      { condition_type: 'event_type_equals', operator: '=', value: 'FeedbackRevoked' },
    ]);
    const otherChain = await per(
      'other chain',
      [{ condition_type: 'score_threshold', field: 'value', operator: '>=', value: '0' }],
      { chainId: 999 },
    );
    const everyChain = await per(
      'every chain',
      [{ condition_type: 'agent_id_equals', operator: 'in', value: '501,502' }],
      { chainId: null },
    );
    const disabled = await per('disabled', [{ condition_type: 'agent_id_equals', operator: '=', value: '501' }], {
      enabled: false,
    });
    const otherUser = await insertUser(db.pool);
    const inactiveOrg = await insertOrganization(db.pool, otherUser);
    const inactive = await service.create({
      ...trigger('inactive org', [{ condition_type: 'agent_id_equals', operator: '=', value: '501' }]),
      organizationId: inactiveOrg,
      userId: otherUser,
    });
    await db.pool.query('UPDATE organizations SET is_active = false WHERE id = $1', [inactiveOrg]);

    await feed({ agent: '501', value: '1' }, { agent: '502', value: '2' }, { agent: '503', value: '3' });
    const agentsOf = async (id: string) => (await matches(id)).map((r) => r.agent_id);
    expect(await agentsOf(a)).toEqual(['501']);
    expect(await agentsOf(anyAgent)).toEqual(['501', '502', '503']);
    expect(await agentsOf(revoked)).toEqual([]);
    expect(await agentsOf(otherChain)).toEqual([]);
    expect(await agentsOf(everyChain)).toEqual(['501', '502']);
    expect(await agentsOf(disabled)).toEqual([]);
    expect(await agentsOf(inactive)).toEqual([]);
    // Each change above was in the index before the next dispatch: no batch had to query its candidates.
    expect(dispatcher.indexedBatches).toBeGreaterThan(0);
    expect(dispatcher.queriedBatches).toBe(0);
  });

  it('drops duplicate and reordered batches, evaluating each event once', async () => {
    const id = await service.create(
      trigger('count', [{ condition_type: 'rate_limit', operator: '>=', value: '1', config: { time_window: '7d' } }]),
    );
    const records = await feed({ value: '1' }, { value: '2' }, { value: '3' });
    const handle = client.workflow.getHandle(triggerWorkflowId(id));
    const asItems = async () => {
      const { rows } = await db.pool.query(
        `SELECT ingest_seq::text AS ingest_seq, id, chain_id::float8 AS chain_id, block_number::float8 AS block_number,
        log_index, "timestamp"::float8 AS "timestamp", registry, event_type, agent_id::text AS agent_id, value::text AS value, value_decimals, tag1, tag2, tag,
        validator_address, file_uri, response, request_hash FROM events WHERE id = ANY($1) ORDER BY ingest_seq`,
        [records.map((r) => r.id)],
      );
      return rows.map((event) => ({ kind: 'event' as const, event }));
    };
    const items = await asItems();
    await handle.signal(eventsSignal, { items: [...items].reverse() });
    await handle.signal(eventsSignal, { items });
    // The relay's delivery and both manual batches carried the same three events: each fires once.
    await eventually(
      () => matches(id),
      (r) => r.length >= 3,
    );
    await handle.signal(eventsSignal, { items: [] });
    // A fourth event, signalled after the duplicates: once it has fired, the workflow has drained everything before it.
    const [fourth] = await feed({ value: '4' });
    await eventually(
      () => matches(id),
      (r) => r.some((m) => m.value === '4'),
    );
    const view = await service.state(id);
    const rate = Object.values(view.state.agents[`${chainId}:0`]!.conditions)[0];
    expect(rate?.kind === 'rate' && rate.times.length).toBe(4);
    expect((await matches(id)).map((r) => r.value)).toEqual([...records.map((r) => r.value), fourth!.value]);
  });

  it('keeps its state across continue-as-new', async () => {
    const id = await service.create(
      trigger('ema', [{ condition_type: 'ema_threshold', operator: '<', value: '0', config: { alpha: 0.5 } }]),
    );
    const handle = client.workflow.getHandle(triggerWorkflowId(id));
    const firstRun = (await handle.describe()).runId;
    let expected: number | null = null;
    for (let i = 0; i < 10; i++) {
      const v = 10 * (i + 1);
      expected = expected === null ? v : 0.5 * v + 0.5 * expected;
      await feed({ value: String(v) });
    }
    const ema = await eventually(
      () => emaOf(id),
      (v) => typeof v === 'number' && Math.abs(v - expected!) < 1e-9,
    );
    expect(ema).toBeCloseTo(expected!, 9);
    // Ten signals with a cap of four: the workflow continues as new (after a snapshot, which a query may see first).
    await eventually(
      async () => (await handle.describe()).runId,
      (runId) => runId !== firstRun,
    );
    const { rows } = await db.pool.query('SELECT state_data FROM trigger_state WHERE trigger_id = $1', [id]);
    expect(rows).toHaveLength(1);
  });

  it('applies validated config updates: only a changed condition restarts; invalid edits are refused; disable and delete', async () => {
    const id = await service.create(
      trigger('two emas', [
        { condition_type: 'ema_threshold', operator: '>', value: '1000', config: { alpha: 0.5 } },
        { condition_type: 'rate_limit', operator: '>', value: '1000', config: { time_window: '7d' } },
      ]),
    );
    await feed({ value: '10' }, { value: '20' });
    const agent = `${chainId}:0`;
    const before = await eventually(
      () => service.state(id),
      (v) => Object.keys(v.state.agents[agent]?.conditions ?? {}).length === 2,
    );
    const keys = Object.keys(before.state.agents[agent]!.conditions);

    // Change the EMA's alpha only.
    await service.update(
      id,
      trigger('two emas', [
        { condition_type: 'ema_threshold', operator: '>', value: '1000', config: { alpha: 0.2 } },
        { condition_type: 'rate_limit', operator: '>', value: '1000', config: { time_window: '7d' } },
      ]),
    );
    const after = await service.state(id);
    const conditions = after.state.agents[agent]!.conditions;
    const rate = Object.values(conditions).find((c) => c.kind === 'rate');
    expect(rate?.kind === 'rate' && rate.times.length).toBe(2);
    expect(Object.values(conditions).some((c) => c.kind === 'ema')).toBe(false);
    expect(Object.keys(conditions)).toEqual([
      keys.find((k) => before.state.agents[agent]!.conditions[k]!.kind === 'rate'),
    ]);

    // An invalid definition is refused by the update validator; nothing changes.
    const handle = client.workflow.getHandle(triggerWorkflowId(id));
    const bad = {
      ...after.definition,
      conditions: [
        { key: 'x', condition_type: 'ema_threshold' as const, operator: '<', value: '5', config: { alpha: 2 } },
      ],
    };
    await expect(handle.executeUpdate('config', { args: [{ kind: 'edit', input: bad }] })).rejects.toBeInstanceOf(
      WorkflowUpdateFailedError,
    );
    expect((await service.state(id)).definition).toEqual(after.definition);

    await service.setEnabled(id, orgId, false);
    await feed({ value: '5000' });
    // The relay has dispatched the event (feed awaits it); an update round-trips after any signal it sent, so the
    // workflow has drained that signal before the state is read.
    await handle.executeUpdate(configUpdate, { args: [{ kind: 'enable', enabled: false }] });
    expect((await service.state(id)).state.agents[agent]!.conditions).toEqual(conditions);

    await service.delete(id, orgId);
    expect((await handle.describe()).status.name).toBe('COMPLETED');
    expect((await db.pool.query('SELECT 1 FROM trigger_state WHERE trigger_id = $1', [id])).rowCount).toBe(0);
    expect((await db.pool.query('SELECT 1 FROM triggers WHERE id = $1', [id])).rowCount).toBe(0);
  });

  it('recomputes an agent from canonical events after a retraction', async () => {
    const id = await service.create(
      trigger('ema retract', [{ condition_type: 'ema_threshold', operator: '<', value: '-1', config: { alpha: 0.5 } }]),
    );
    await feed({ agent: '7', value: '10' }, { agent: '7', value: '20' });
    const agent = `${chainId}:7`;
    await eventually(
      () => emaOf(id, agent),
      (v) => v === 15,
    );
    await feed({ agent: '7', value: '100' });
    await eventually(
      () => emaOf(id, agent),
      (v) => v === 57.5,
    );
    // The last block is orphaned.
    await retractAbove(db.pool, chainId, { number: block - 1, hash: `0x${'00'.repeat(32)}` });
    await relay.catchUp();
    expect(
      await eventually(
        () => emaOf(id, agent),
        (v) => v === 15,
      ),
    ).toBe(15);
  });

  it('fires an absence when a validation request gets no response in time', async () => {
    const id = await service.create({
      organizationId: orgId,
      userId,
      name: 'no response',
      chainId,
      registry: 'validation',
      conditions: [{ condition_type: 'absence', field: 'request_hash', config: { within: '2s' } }],
    });
    const now = Math.floor(Date.now() / 1000);
    const request = (n: number, hash: string, type: 'ValidationRequest' | 'ValidationResponse' = 'ValidationRequest') =>
      feedbackRecord({
        chain_id: chainId,
        block_number: ++block,
        timestamp: now,
        registry: 'validation',
        event_type: type,
        agent_id: String(n),
        value: null,
        value_decimals: null,
        client_address: null,
        feedback_index: null,
        tag1: null,
        tag2: null,
        endpoint: null,
        file_uri: null,
        file_hash: null,
        validator_address: '0x' + '99'.repeat(20),
        request_hash: hash,
        request_uri: 'ipfs://req',
        response: type === 'ValidationResponse' ? 80 : null,
      });
    const answered = '0x' + 'a1'.repeat(32);
    const unanswered = '0x' + 'b2'.repeat(32);
    await appendEvents(db.pool, [request(1, answered), request(2, unanswered)]);
    await appendEvents(db.pool, [request(1, answered, 'ValidationResponse')]);
    await relay.catchUp();
    // Both deadlines have passed once nothing is pending any more (an unanswered request leaves only by firing).
    const done = await eventually(
      () => service.state(id),
      (v) => v.fired >= 1 && Object.keys(v.state.pending).length === 0,
      20_000,
    );
    expect(done.fired).toBe(1);
    const final = await eventually(
      () => matches(id),
      (r) => r.length >= 1,
    );
    expect(final).toHaveLength(1);
    expect(final[0]).toMatchObject({ kind: 'absence', agent_id: '2', evaluation: { requestHash: unanswered } });
  });
});
