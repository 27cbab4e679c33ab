import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ensureSchedules } from '../../src/worker/schedules.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startTestTemporal, type TestTemporal } from '../helpers/temporal.js';
import { appendEvents, feedbackRecord, insertOrganization, insertUser } from '../helpers/fixtures.js';
import { testLogger } from '../helpers/logger.js';

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
  await client?.schedule.getHandle(scheduleId).delete().catch(() => undefined);
  await temporal?.close();
  await db?.drop();
});

it('the maintenance workflow refreshes the reporting views and prunes what expired', async () => {
  const owner = await insertUser(db.pool);
  await insertOrganization(db.pool, owner);
  await appendEvents(db.pool, [feedbackRecord({ block_number: 1, timestamp: Math.floor(Date.now() / 1000) }), feedbackRecord({ block_number: 2, timestamp: 100 })]);
  await db.pool.query(`INSERT INTO action_results (job_id, action_type, status, executed_at) VALUES ('old', 'rest', 'success', now() - interval '100 days'), ('new', 'rest', 'success', now())`);
  await db.pool.query(`INSERT INTO used_nonces (nonce_hash, expires_at) VALUES ('expired', now() - interval '3 days'), ('fresh', now() + interval '5 minutes')`);
  await db.pool.query(`INSERT INTO rate_limit_counters (bucket, window_start, count) VALUES ('api:ip:1', now() - interval '5 hours', 3), ('api:ip:1', date_trunc('hour', now()), 1)`);

  const report = await client.workflow.execute('maintenanceWorkflow', { taskQueue, workflowId: `maintenance-test-${randomUUID()}` });
  expect(report).toMatchObject({ actionResultsRemoved: 1, usedNoncesRemoved: 1, rateLimitWindowsRemoved: 1, eventsRemoved: 1 });
  expect((await db.pool.query(`SELECT job_id FROM action_results`)).rows).toEqual([{ job_id: 'new' }]);
  // events_hourly (a plain materialized view without TimescaleDB) now counts the remaining event.
  const { rows } = await db.pool.query(`SELECT sum(event_count)::int AS n FROM events_hourly`);
  expect(rows[0].n).toBe(1);
});

it('the maintenance schedule is created once, and again is a no-op', async () => {
  await ensureSchedules(client, taskQueue, testLogger, { scheduleId });
  await ensureSchedules(client, `${taskQueue}-other`, testLogger, { scheduleId });
  const description = await client.schedule.getHandle(scheduleId).describe();
  expect(description.action).toMatchObject({ type: 'startWorkflow', workflowType: 'maintenanceWorkflow', taskQueue });
});
