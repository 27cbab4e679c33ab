/**
 * The relay's in-memory candidate index (src/relay/candidate-index.ts) against Postgres: every change committed before
 * a lookup is in its answer (the barrier NOTIFY), and a lost LISTEN connection costs a reload, never a stale answer.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CandidateIndex, type EventRoute } from '../../src/relay/candidate-index.js';
import { withTransaction } from '../../src/db/transaction.js';
import { saveTrigger, type TriggerWrite } from '../../src/triggers/store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { insertOrganization, insertUser } from '../helpers/fixtures.js';
import { testLogger } from '../helpers/logger.js';
import { eventually } from '../helpers/wait.js';

let db: TestDatabase;
let index: CandidateIndex;
let userId: string;
let orgId: string;

beforeAll(async () => {
  db = await createTestDatabase();
  index = new CandidateIndex({ pool: db.pool, databaseUrl: db.url, logger: testLogger, retryMs: 0 });
  userId = await insertUser(db.pool);
  orgId = await insertOrganization(db.pool, userId);
});
afterAll(async () => {
  await index?.close();
  await db?.drop();
});

const create = (name: string, conditions: TriggerWrite['conditions'], extra: Partial<TriggerWrite> = {}) =>
  withTransaction(db.pool, (client) =>
    saveTrigger(client, {
      organizationId: orgId,
      userId,
      name,
      chainId: 31337,
      registry: 'reputation',
      conditions,
      ...extra,
    }),
  );

const route = (agent: string, p: Partial<EventRoute> = {}): EventRoute => ({
  seq: '1000000',
  chain: 31337,
  registry: 'reputation',
  type: 'NewFeedback',
  agent,
  ...p,
});

/** The names of the candidate triggers of each route. */
async function candidates(...routes: EventRoute[]) {
  const found = await index.candidates(routes);
  expect(found, 'the index vouched for its answer').toBeDefined();
  const names = new Map<string, string>();
  const { rows } = await db.pool.query<{ id: string; name: string }>('SELECT id::text, name FROM triggers');
  for (const r of rows) names.set(r.id, r.name);
  return routes.map((_, i) =>
    found!
      .filter((c) => c.items.includes(i))
      .map((c) => names.get(c.trigger_id))
      .sort(),
  );
}

it('answers with every change committed before the lookup, without waiting for anything else', async () => {
  await create('agent 7', [{ condition_type: 'agent_id_equals', operator: '=', value: '7' }]);
  await create('any agent', [{ condition_type: 'event_type_equals', operator: '=', value: 'NewFeedback' }]);
  await create('other chain', [{ condition_type: 'agent_id_equals', operator: '=', value: '7' }], { chainId: 1 });
  expect(await candidates(route('7'), route('8'), route('7', { type: 'FeedbackRevoked' }))).toEqual([
    ['agent 7', 'any agent'],
    ['any agent'],
    ['agent 7'],
  ]);

  // Created, disabled and deactivated right before the next lookups: each is in the answer.
  const late = await create('late', [{ condition_type: 'agent_id_equals', operator: 'in', value: '7,8' }]);
  expect(await candidates(route('8'))).toEqual([['any agent', 'late']]);
  await db.pool.query('UPDATE triggers SET enabled = false WHERE id = $1', [late]);
  expect(await candidates(route('8'))).toEqual([['any agent']]);
  // Events at or before a trigger's start are not its business.
  expect(await candidates(route('7', { seq: '0' }))).toEqual([[]]);
  await db.pool.query('UPDATE organizations SET is_active = false WHERE id = $1', [orgId]);
  expect(await candidates(route('7'))).toEqual([[]]);
  await db.pool.query('UPDATE organizations SET is_active = true WHERE id = $1', [orgId]);
  expect(await candidates(route('7'))).toEqual([['agent 7', 'any agent']]);
});

it('after its LISTEN connection is lost, reloads everything (what it missed meanwhile included)', async () => {
  await db.pool.query(
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'erc8004-relay-candidates' AND datname = current_database()`,
  );
  await create('while away', [{ condition_type: 'agent_id_equals', operator: '=', value: '9' }]);
  // The lookup right after the loss may find the connection down (the caller then queries): never a stale answer.
  const answer = await eventually(
    () => index.candidates([route('9')]),
    (found) => found !== undefined,
    10_000,
  );
  expect(answer!.map((c) => c.name).sort()).toEqual(['any agent', 'while away']);
});
