import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type RunningApiServer } from '../../src/api/server.js';
import { checkHealth } from '../../src/api/health.js';
import { createPool } from '../../src/db/pool.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startTestTemporal, type TestTemporal } from '../helpers/temporal.js';
import { testLogger } from '../helpers/logger.js';
import { getFreePort } from '../helpers/ports.js';

let db: TestDatabase;
let temporal: TestTemporal;
let client: Client;
let api: RunningApiServer;
// A task queue of its own: parallel test files share the Temporal server, not each other's workers.
let taskQueue: string;

beforeAll(async () => {
  db = await createTestDatabase();
  temporal = await startTestTemporal(db, 'health');
  ({ taskQueue, client } = temporal);
  api = await startApiServer(
    { pool: db.pool, temporal: client, taskQueue, logger: testLogger },
    { host: '127.0.0.1', port: 0 },
  );
});

afterAll(async () => {
  await api?.stop();
  await temporal?.close();
  await db?.drop();
});

describe('health workflow', () => {
  it('runs on the real Temporal server through a worker and an activity', async () => {
    const report = await client.workflow.execute('healthWorkflow', {
      taskQueue,
      workflowId: `health-test-${randomUUID()}`,
    });
    expect(report).toMatchObject({ ok: true, taskQueue, database: { ok: true } });
    expect(report.database.serverVersion).toMatch(/^\d+/);
  });
});

describe('GET /health', () => {
  it('reports Postgres and Temporal healthy', async () => {
    const res = await fetch(`${api.url}/health`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { checks: Record<string, unknown> };
    expect(body).toMatchObject({ status: 'ok', checks: { postgres: { status: 'ok' }, temporal: { status: 'ok' } } });
    expect(body.checks.worker).toBeUndefined();
  });

  it('with deep=true, proves a worker answers on the task queue', async () => {
    const res = await fetch(`${api.url}/health?deep=true`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      status: 'ok',
      checks: { worker: { status: 'ok', detail: { taskQueue } } },
    });
  });

  it('answers 503 naming the component that is down', async () => {
    const deadPool = createPool(`postgres://nobody:x@127.0.0.1:${await getFreePort()}/none`, testLogger);
    try {
      const health = await checkHealth({ pool: deadPool, temporal: client, taskQueue }, { timeoutMs: 2_000 });
      expect(health.status).toBe('degraded');
      expect(health.checks.postgres).toMatchObject({
        status: 'down',
        error: expect.stringMatching(/ECONNREFUSED|connect/),
      });
      expect(health.checks.temporal!.status).toBe('ok');
    } finally {
      await deadPool.end();
    }
  });

  it('refuses other methods and unknown paths', async () => {
    expect((await fetch(`${api.url}/health`, { method: 'POST' })).status).toBe(405);
    expect((await fetch(`${api.url}/nope`)).status).toBe(404);
  });
});
