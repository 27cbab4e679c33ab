/**
 * `npm start` end to end: the supervisor brings up embedded Postgres, the Temporal dev server, migrations, the worker
 * and the API on free ports in a temp DATA_DIR; /health turns green; SIGINT stops every child process; a restart on the
 * same DATA_DIR finds the data of the first run.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, chmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Connection, Client } from '@temporalio/client';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getFreePort } from '../helpers/ports.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface Supervisor {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function startSupervisor(env: Record<string, string>): Supervisor {
  // Its own process group, as in a terminal: Ctrl-C signals the whole group (Postgres and anvil included).
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/bin/start.ts'], {
    detached: true,
    cwd: ROOT,
    env: { ...process.env, LOG_FORMAT: 'json', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function waitForHealthy(url: string, supervisor: Supervisor, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (supervisor.child.exitCode !== null) throw new Error(`supervisor exited early:\n${supervisor.output()}`);
    try {
      const res = await fetch(url);
      if (res.status === 200)
        return (await res.json()) as { status: string; checks: Record<string, { status: string }> };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`not healthy within ${timeoutMs} ms:\n${supervisor.output()}`);
}

/** PIDs of processes whose command line mentions the data folder (embedded Postgres, Temporal dev server). */
function childrenUsing(dataDir: string): number[] {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((line) => line.includes(dataDir))
    .map((line) => Number(line.trim().split(/\s+/)[0]));
}

describe('npm start supervisor', () => {
  let dataDir: string;
  let env: Record<string, string>;
  let running: Supervisor | undefined;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'erc8004-supervisor-'));
    await chmod(dataDir, 0o755);
    env = {
      DATA_DIR: dataDir,
      EMBEDDED_PG_PORT: String(await getFreePort()),
      TEMPORAL_DEV_PORT: String(await getFreePort()),
      TEMPORAL_UI_PORT: String(await getFreePort()),
      API_PORT: String(await getFreePort()),
      DEMO_ANVIL_PORT: String(await getFreePort()),
      DEMO_EVENTS_PER_SECOND: '10',
    };
  });

  afterAll(async () => {
    if (running && running.child.exitCode === null) {
      running.child.kill('SIGKILL');
      await running.exited;
    }
    for (const pid of childrenUsing(dataDir)) process.kill(pid, 'SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });

  it(
    'comes up healthy, stops every child on SIGINT, and keeps its data across a restart',
    { timeout: 300_000 },
    async () => {
      const api = `http://127.0.0.1:${env.API_PORT}`;
      const pgUrl = `postgres://postgres:postgres@127.0.0.1:${env.EMBEDDED_PG_PORT}/erc8004`;

      running = startSupervisor(env);
      const health = await waitForHealthy(`${api}/health?deep=true`, running);
      expect(health).toMatchObject({
        status: 'ok',
        checks: { postgres: { status: 'ok' }, temporal: { status: 'ok' }, worker: { status: 'ok' } },
      });
      // The Web UI is served on its configured port.
      expect((await fetch(`http://127.0.0.1:${env.TEMPORAL_UI_PORT}/`)).status).toBe(200);
      expect(childrenUsing(dataDir).length).toBeGreaterThanOrEqual(2);

      const client = new pg.Client({ connectionString: pgUrl });
      await client.connect();
      await client.query(
        `INSERT INTO users (username, email, password_hash) VALUES ('persisted', 'p@example.test', 'x')`,
      );
      // Demo mode: the simulator's transactions on the local chain reach the event log and the relay within seconds.
      const deadline = Date.now() + 60_000;
      let demo = { events: 0, relayed: 0 };
      while (Date.now() < deadline && (demo.events < 5 || demo.relayed < 5)) {
        const { rows } = await client.query(
          `SELECT (SELECT count(*)::int FROM events) AS events, (SELECT coalesce(max(position), 0)::int FROM relay_cursors) AS relayed`,
        );
        demo = rows[0];
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(demo.events, running.output().slice(-3_000)).toBeGreaterThanOrEqual(5);
      expect(demo.relayed).toBeGreaterThanOrEqual(5);
      const metrics = await (await fetch(`${api}/metrics`)).text();
      expect(metrics).toMatch(/erc8004_indexer_checkpoint_block\{chain_id="31337"\} \d+/);
      await client.end();

      // Ctrl-C: SIGINT to the whole process group, so Postgres shuts down at once alongside the supervisor.
      process.kill(-running.child.pid!, 'SIGINT');
      expect(await running.exited).toBe(0);
      expect(running.output()).toContain('"msg":"stopped"');
      expect(running.output()).not.toContain("Unhandled 'error' event");
      expect(childrenUsing(dataDir), 'child processes left running').toEqual([]);

      // Second start on the same data: migrations are already applied, the user and the Temporal history are still there.
      running = startSupervisor(env);
      await waitForHealthy(`${api}/health`, running);
      expect(running.output()).not.toMatch(/ran \d+ migration/);
      const again = new pg.Client({ connectionString: pgUrl });
      await again.connect();
      const { rows } = await again.query(`SELECT username FROM users WHERE username = 'persisted'`);
      await again.end();
      expect(rows).toHaveLength(1);
      // The demo chain resumed from its saved state: same blocks, so nothing had to be retracted. Checked once the
      // indexer has gone past the head it had when this run started (it compared the chain it found with what it had).
      const again2 = new pg.Client({ connectionString: pgUrl });
      await again2.connect();
      const checkpoint = async () =>
        (
          await again2.query(
            `SELECT coalesce(max(last_block_number), 0)::int AS n FROM checkpoints WHERE chain_id = 31337`,
          )
        ).rows[0].n as number;
      const oldHead = await checkpoint();
      expect(oldHead).toBeGreaterThan(0);
      await until(async () => (await checkpoint()) > oldHead, 'the indexer passes the head of the first run');
      const retracted = await again2.query('SELECT count(*)::int AS n FROM event_retractions');
      await again2.end();
      expect(retracted.rows[0].n).toBe(0);
      const connection = await Connection.connect({ address: `127.0.0.1:${env.TEMPORAL_DEV_PORT}` });
      try {
        const temporal = new Client({ connection });
        const seen: string[] = [];
        for await (const wf of temporal.workflow.list({ query: `WorkflowType = 'healthWorkflow'` }))
          seen.push(wf.workflowId);
        expect(seen.length, 'health workflow of the first run survives the restart').toBeGreaterThanOrEqual(1);
      } finally {
        await connection.close();
      }
      running.child.kill('SIGTERM');
      expect(await running.exited).toBe(0);
      expect(childrenUsing(dataDir)).toEqual([]);
    },
  );

  /** Backends holding the relay's and the live indexer's advisory locks, by lock name. */
  async function lockHolders(client: pg.Client): Promise<Record<string, number>> {
    const { rows } = await client.query(
      `SELECT k.name, l.pid FROM (VALUES ('relay:triggers'), ('live-indexer:31337')) AS k(name)
       JOIN pg_locks l ON l.locktype = 'advisory' AND l.granted AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended(k.name, 0)`,
    );
    return Object.fromEntries(rows.map((r) => [r.name, r.pid]));
  }

  async function until(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 60_000) {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline)
        throw new Error(`${what}: not within ${timeoutMs} ms:\n${running?.output().slice(-3_000)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  it(
    'restarts the relay and the indexer when they lose their locks, and they resume',
    { timeout: 300_000 },
    async () => {
      const api = `http://127.0.0.1:${env.API_PORT}`;
      running = startSupervisor(env);
      await waitForHealthy(`${api}/health`, running);
      const client = new pg.Client({
        connectionString: `postgres://postgres:postgres@127.0.0.1:${env.EMBEDDED_PG_PORT}/erc8004`,
      });
      await client.connect();
      try {
        let before: Record<string, number> = {};
        await until(
          async () => Object.keys((before = await lockHolders(client))).length === 2,
          'relay and indexer hold their locks',
        );
        const cursor = async () =>
          Number(
            (await client.query(`SELECT position FROM relay_cursors WHERE name = 'triggers'`)).rows[0]?.position ?? 0,
          );
        // Their lock sessions end (as on a Postgres restart or a network cut).
        await client.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [Object.values(before)]);
        await until(() => running!.output().includes('"msg":"relay restarted"'), 'relay restarted');
        await until(() => running!.output().includes('"msg":"indexer 31337 restarted"'), 'indexer restarted');
        expect(running.output()).toContain('"msg":"relay failed; restarting it"');
        // Both hold their locks again, on new sessions, and the demo's events keep flowing through the relay.
        await until(async () => {
          const after = await lockHolders(client);
          return Object.keys(after).length === 2 && Object.entries(after).every(([name, pid]) => pid !== before[name]);
        }, 'locks taken again');
        const resumedFrom = await cursor();
        await until(async () => (await cursor()) > resumedFrom, 'relay cursor advances after the restart');
        const { rows } = await client.query(
          `SELECT count(*)::int AS n FROM events e WHERE EXISTS (SELECT 1 FROM events d WHERE d.chain_id = e.chain_id AND d.block_hash = e.block_hash AND d.log_index = e.log_index AND d.ingest_seq <> e.ingest_seq)`,
        );
        expect(rows[0].n, 'no event written twice').toBe(0);
      } finally {
        await client.end();
      }
    },
  );

  it(
    'a next start stops what a killed supervisor left running, and SIGHUP (also mid-shutdown) stops every child',
    { timeout: 300_000 },
    async () => {
      const api = `http://127.0.0.1:${env.API_PORT}`;
      if (!running || running.child.exitCode !== null || running.child.signalCode !== null) {
        running = startSupervisor(env);
        await waitForHealthy(`${api}/health`, running);
      }
      // SIGKILL to the supervisor alone: Postgres, the Temporal dev server and anvil keep running.
      const leftovers = childrenUsing(dataDir);
      expect(leftovers.length).toBeGreaterThanOrEqual(3);
      running.child.kill('SIGKILL');
      await running.exited;
      expect(childrenUsing(dataDir)).toEqual(leftovers);

      running = startSupervisor(env);
      await waitForHealthy(`${api}/health`, running);
      for (const name of ['Temporal dev server', 'demo chain (anvil)', 'embedded Postgres']) {
        expect(running.output()).toContain(`stopping the ${name}`);
        expect(running.output()).toContain(`stopped the leftover ${name}`);
      }
      expect(childrenUsing(dataDir).filter((pid) => leftovers.includes(pid))).toEqual([]);

      // The terminal closes: SIGHUP, then another one while shutting down.
      running.child.kill('SIGHUP');
      await until(() => running!.output().includes('"msg":"shutting down"'), 'shutdown started', 10_000);
      running.child.kill('SIGHUP');
      expect(await running.exited).toBe(0);
      expect(running.output()).toContain('"msg":"stopped"');
      expect(childrenUsing(dataDir), 'child processes left running').toEqual([]);
    },
  );

  it('fails fast with a readable message on bad configuration', async () => {
    const bad = startSupervisor({ ...env, API_PORT: 'eighty', TEMPORAL_ADDRESS: 'no-port' });
    expect(await bad.exited).toBe(1);
    expect(bad.output()).toContain('Invalid configuration:');
    expect(bad.output()).toContain('API_PORT: must be a port number (got "eighty")');
    expect(bad.output()).toContain('TEMPORAL_ADDRESS: must be host:port');
    expect(childrenUsing(dataDir)).toEqual([]);
  });

  it('names the database it cannot reach', async () => {
    const port = await getFreePort();
    const bad = startSupervisor({
      ...env,
      DATABASE_URL: `postgres://nobody:secret@127.0.0.1:${port}/none`,
      DATABASE_READY_TIMEOUT_MS: '500',
      TEMPORAL_ADDRESS: `127.0.0.1:${await getFreePort()}`,
      TEMPORAL_READY_TIMEOUT_MS: '500',
    });
    expect(await bad.exited).toBe(1);
    expect(bad.output()).toMatch(
      new RegExp(`Postgres at postgres://nobody:\\*\\*\\*@127\\.0\\.0\\.1:${port}/none did not accept connections`),
    );
    expect(bad.output()).not.toContain('secret');
  });
});
