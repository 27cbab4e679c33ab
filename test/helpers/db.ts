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

/**
 * Every public table's row count and a checksum of its rows (ordered, so equal contents give equal checksums): compare
 * two fingerprints to prove that nothing was written anywhere. `ignore` leaves out tables (e.g. rate-limit counters,
 * which every request moves) and columns (e.g. a key's last use) that legitimately change.
 */
export async function databaseFingerprint(
  pool: pg.Pool,
  ignore: { tables?: string[]; columns?: Record<string, string[]> } = {},
): Promise<Record<string, { rows: number; md5: string }>> {
  const { rows: columns } = await pool.query<{ table_name: string; column_name: string }>(
    `SELECT c.table_name, c.column_name FROM information_schema.columns c
     JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'
     WHERE c.table_schema = 'public' ORDER BY c.table_name, c.ordinal_position`,
  );
  const byTable = new Map<string, string[]>();
  for (const { table_name: table, column_name: column } of columns) {
    if (ignore.tables?.includes(table) || ignore.columns?.[table]?.includes(column)) continue;
    byTable.set(table, [...(byTable.get(table) ?? []), column]);
  }
  const out: Record<string, { rows: number; md5: string }> = {};
  for (const [table, cols] of byTable) {
    const list = cols.map((c) => pg.escapeIdentifier(c)).join(', ');
    const { rows } = await pool.query<{ rows: number; md5: string }>(
      `SELECT count(*)::int AS rows, md5(coalesce(string_agg(r::text, E'\\n' ORDER BY r::text), '')) AS md5 FROM (SELECT ${list} FROM ${pg.escapeIdentifier(table)}) r`,
    );
    out[table] = rows[0]!;
  }
  return out;
}
