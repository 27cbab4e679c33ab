/** Transactions, and the handle type of functions that run inside a caller's transaction or on their own. */
import type pg from 'pg';
import type { Db } from './pool.js';

/** Anything that runs a query: a pool, or a client inside a caller's transaction. */
export type Queryable = Db | pg.PoolClient | pg.Client;

export async function withTransaction<T>(pool: Db, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}
