/**
 * "Two runs at once do not collide" (README): two global setups — each an embedded Postgres with its migrated template
 * and a Temporal dev server — started side by side in one test, as two `npm test` runs would start them.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { afterEach, expect, it } from 'vitest';
import setup, { TEMPLATE_DATABASE } from '../global-setup.js';

const saved = {
  TEST_TEMPORAL_ADDRESS: process.env.TEST_TEMPORAL_ADDRESS,
  TEMPORAL_CLI: process.env.TEMPORAL_CLI,
  TMPDIR: process.env.TMPDIR,
};
afterEach(() => {
  for (const [key, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
});

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

it(
  'two global setups at once get their own Postgres and Temporal, and each tears down only its own',
  { timeout: 240_000 },
  async () => {
    // Each run starts its own Temporal here (a shared one is what TEST_TEMPORAL_ADDRESS would ask for).
    delete process.env.TEST_TEMPORAL_ADDRESS;
    const provided = [new Map<string, string>(), new Map<string, string>()];
    const project = (values: Map<string, string>) =>
      ({ provide: (key: string, value: string) => values.set(key, value) }) as unknown as TestProject;
    const started = await Promise.allSettled(provided.map((values) => setup(project(values))));
    const teardowns = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    try {
      for (const s of started) if (s.status === 'rejected') throw s.reason;
      const [a, b] = provided as [Map<string, string>, Map<string, string>];
      expect(a.get('pgAdminUrl')).not.toBe(b.get('pgAdminUrl'));
      expect(a.get('temporalAddress')).not.toBe(b.get('temporalAddress'));

      // Each Postgres is its own: a database created in one does not exist in the other; both have the template.
      await withClient(a.get('pgAdminUrl')!, (c) => c.query('CREATE DATABASE only_in_a'));
      for (const [values, expected] of [
        [a, ['only_in_a', TEMPLATE_DATABASE]],
        [b, [TEMPLATE_DATABASE]],
      ] as const) {
        const names = await withClient(values.get('pgAdminUrl')!, async (c) =>
          (
            await c.query<{ datname: string }>(
              `SELECT datname FROM pg_database WHERE datname IN ('only_in_a', $1) ORDER BY datname`,
              [TEMPLATE_DATABASE],
            )
          ).rows.map((r) => r.datname),
        );
        expect(names).toEqual([...expected].sort());
      }
      // Each Temporal answers on its own address.
      for (const values of provided) {
        const connection = await Connection.connect({ address: values.get('temporalAddress')! });
        try {
          expect((await connection.workflowService.getSystemInfo({})).serverVersion).toBeTruthy();
        } finally {
          await connection.close();
        }
      }

      // Tearing one down leaves the other running.
      await teardowns.shift()!();
      await expect(withClient(a.get('pgAdminUrl')!, (c) => c.query('SELECT 1'))).rejects.toThrow();
      expect((await withClient(b.get('pgAdminUrl')!, (c) => c.query('SELECT 1 AS ok'))).rows).toEqual([{ ok: 1 }]);
    } finally {
      await Promise.all(teardowns.map((teardown) => teardown()));
    }
  },
);

it(
  'a setup whose Temporal cannot start stops the Postgres it started and removes its folder',
  { timeout: 120_000 },
  async () => {
    // A folder of our own for the setup's temp folder, so that what it leaves behind is ours to see (and clean up).
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'erc8004-guarantees-'));
    await fs.chmod(tmp, 0o755); // Postgres runs unprivileged when we are root: it must be able to enter the folder
    process.env.TMPDIR = tmp;
    delete process.env.TEST_TEMPORAL_ADDRESS;
    process.env.TEMPORAL_CLI = path.join(tmp, 'no-such-temporal');
    const postgresUnder = () =>
      execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' })
        .split('\n')
        .filter((line) => line.includes('postgres') && line.includes(`-D ${tmp}`));
    try {
      await expect(setup({ provide: () => undefined } as unknown as TestProject)).rejects.toThrow(
        /Temporal CLI unavailable/,
      );
      expect(postgresUnder()).toEqual([]);
      expect(await fs.readdir(tmp)).toEqual([]);
    } finally {
      // Should the setup have left its Postgres running, stop it here (it is this test's own process).
      for (const line of postgresUnder()) process.kill(Number(line.trim().split(/\s+/)[0]), 'SIGINT');
      await fs.rm(tmp, { recursive: true, force: true });
    }
  },
);
