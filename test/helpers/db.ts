import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { createPool } from '../../src/db/pool.js';
import { testLogger } from './logger.js';

export interface TestDatabase {
  name: string;
  url: string;
  pool: pg.Pool;
  drop(): Promise<void>;
}

function adminUrl() {
  return inject('pgAdminUrl');
}

function urlFor(database: string): string {
  const url = new URL(adminUrl());
  url.pathname = `/${database}`;
  return url.toString();
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * A database of its own for one test file: a clone of the migrated template (fast), or an empty one for
 * migration tests. Drop it in afterAll.
 */
export async function createTestDatabase(options: { empty?: boolean } = {}): Promise<TestDatabase> {
  const name = `t_${randomBytes(6).toString('hex')}`;
  const template = options.empty ? 'template0' : inject('templateDatabase');
  await withAdmin(async (c) => {
    // Postgres refuses to clone a template while another session is connected to it (55006): brief retries.
    for (let attempt = 1; ; attempt++) {
      try {
        return await c.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
      } catch (err) {
        if ((err as { code?: string }).code !== '55006' || attempt >= 20) throw err;
        await new Promise((r) => setTimeout(r, 100 * attempt));
      }
    }
  });
  const url = urlFor(name);
  const pool = createPool(url, testLogger, { max: 5, applicationName: 'erc8004-test' });
  return {
    name,
    url,
    pool,
    drop: async () => {
      await pool.end();
      await withAdmin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}
