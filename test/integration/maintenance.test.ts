import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ensureSchedules } from '../../src/worker/schedules.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startTestTemporal, type TestTemporal } from '../helpers/temporal.js';
import { appendEvents, feedbackRecord, insertOrganization, insertUser } from '../helpers/fixtures.js';
import { testLogger } from '../helpers/logger.js';
import { createMaintenanceActivities } from '../../activities/maintenance.js';
import { a2aWorkflowId } from '../../src/a2a/executor.js';

let db: TestDatabase;
let temporal: TestTemporal;
let client: Client;
let taskQueue: string;
// The Temporal server is shared by every test file: a schedule id of our own.
const scheduleId = `maintenance-${randomUUID()}`;

beforeAll(async () => {
  db = await createTestDatabase();
  temporal = await startTestTemporal(db, 'maintenance');
  ({ taskQueue, client } = temporal);
});
afterAll(async () => {
  await client?.schedule
    .getHandle(scheduleId)
    .delete()
    .catch(() => undefined);
  await temporal?.close();
  await db?.drop();
});

const DAY = 86_400;
const yearsAgo = (years: number) => Math.floor(Date.now() / 1000) - Math.round(years * 365 * DAY);

async function eventBlocks(): Promise<number[]> {
  const { rows } = await db.pool.query<{ block_number: string }>(
    'SELECT block_number FROM events ORDER BY block_number',
  );
  return rows.map((r) => Number(r.block_number));
}

it('the maintenance workflow refreshes the reporting views, prunes expired bookkeeping and keeps registry history', async () => {
  const owner = await insertUser(db.pool);
  await insertOrganization(db.pool, owner);
  // A backfill of old history: a feedback two years old in block time, another from 1970, and a current one.
  await appendEvents(db.pool, [
    feedbackRecord({ block_number: 1, timestamp: Math.floor(Date.now() / 1000) }),
    feedbackRecord({ block_number: 2, timestamp: 100 }),
    feedbackRecord({ block_number: 3, timestamp: yearsAgo(2) }),
  ]);
  await db.pool.query(
    `INSERT INTO action_results (job_id, action_type, status, executed_at) VALUES ('old', 'rest', 'success', now() - interval '100 days'), ('new', 'rest', 'success', now())`,
  );
  await db.pool.query(
    `INSERT INTO used_nonces (nonce_hash, expires_at) VALUES ('expired', now() - interval '3 days'), ('fresh', now() + interval '5 minutes')`,
  );
  await db.pool.query(
    `INSERT INTO rate_limit_counters (bucket, window_start, count) VALUES ('api:ip:1', now() - interval '5 hours', 3), ('api:ip:1', date_trunc('hour', now()), 1)`,
  );

  await db.pool.query(
    `INSERT INTO query_cache (cache_key, tier, tool, arguments, result, expires_at)
     VALUES ('expired', 0, 'getAgentProfile', '{}', '{}', now() - interval '1 minute'),
            ('live', 0, 'getAgentProfile', '{}', '{}', now() + interval '5 minutes')`,
  );

  const report = await client.workflow.execute('maintenanceWorkflow', {
    taskQueue,
    workflowId: `maintenance-test-${randomUUID()}`,
  });
  // Event retention is off by default: the reputation record is never deleted.
  expect(report).toMatchObject({
    actionResultsRemoved: 1,
    usedNoncesRemoved: 1,
    rateLimitWindowsRemoved: 1,
    cachedAnswersRemoved: 1,
    eventsRemoved: 0,
  });
  expect((await db.pool.query(`SELECT cache_key FROM query_cache`)).rows).toEqual([{ cache_key: 'live' }]);
  expect(await eventBlocks()).toEqual([1, 2, 3]);
  expect((await db.pool.query(`SELECT job_id FROM action_results`)).rows).toEqual([{ job_id: 'new' }]);
  // events_hourly (a plain materialized view without TimescaleDB) counts every event.
  const { rows } = await db.pool.query(`SELECT sum(event_count)::int AS n FROM events_hourly`);
  expect(rows[0].n).toBe(3);
});

it('with EVENT_RETENTION_DAYS set, retention removes exactly the events older than that many days of block time', async () => {
  await appendEvents(db.pool, [feedbackRecord({ block_number: 4, timestamp: yearsAgo(300 / 365) })]);
  const keepForever = createMaintenanceActivities({ pool: db.pool, logger: testLogger, eventRetentionDays: 0 });
  expect((await keepForever.applyRetention()).eventsRemoved).toBe(0);
  expect(await eventBlocks()).toEqual([1, 2, 3, 4]);

  const oneYear = createMaintenanceActivities({ pool: db.pool, logger: testLogger, eventRetentionDays: 365 });
  expect((await oneYear.applyRetention()).eventsRemoved).toBe(2);
  expect(await eventBlocks()).toEqual([1, 4]);
});

it('starts the workflow of an A2A task whose API process died before starting it, which ends the task once', async () => {
  const organizationId = await insertOrganization(db.pool, await insertUser(db.pool));
  const taskId = randomUUID();
  // As the executor records it; ten minutes old, well past the grace period.
  await db.pool.query(
    `INSERT INTO a2a_tasks (id, organization_id, caller, tool, arguments, price, status, workflow_id, created_at)
     VALUES ($1, $2, 'apiKey:test', 'getReputationSummary', '{"chainId": 1, "agentId": "1"}', '0.01', 'submitted', $3,
       now() - interval '10 minutes')`,
    [taskId, organizationId, a2aWorkflowId(taskId)],
  );
  const report = await client.workflow.execute('maintenanceWorkflow', {
    taskQueue,
    workflowId: `maintenance-test-${randomUUID()}`,
  });
  expect(report.strandedA2ATasksResumed).toEqual([taskId]);
  // The organization has no credits: the task's workflow ends it REJECTED, once.
  const result = await client.workflow.getHandle(a2aWorkflowId(taskId)).result();
  expect(result).toEqual({ state: 'rejected', charged: '0' });
  const { rows } = await db.pool.query('SELECT status, error FROM a2a_tasks WHERE id = $1', [taskId]);
  expect(rows).toEqual([{ status: 'rejected', error: expect.stringMatching(/^insufficient credits/) }]);
});

it('the maintenance schedule is created once, and again is a no-op', async () => {
  await ensureSchedules(client, taskQueue, testLogger, { scheduleId });
  await ensureSchedules(client, `${taskQueue}-other`, testLogger, { scheduleId });
  const description = await client.schedule.getHandle(scheduleId).describe();
  expect(description.action).toMatchObject({ type: 'startWorkflow', workflowType: 'maintenanceWorkflow', taskQueue });
});
