/** Transactions, and the handle type of functions that run inside a caller's transaction or on their own. */
import type pg from 'pg';
import type { Db } from './pool.js';

/** Anything that runs a query: a pool, or a client inside a caller's transaction. */
export type Queryable = Db | pg.PoolClient | pg.Client;

/** Handles made by inTransaction: their open transaction's client, and how many savepoints are open in it. */
const openTransactions = new WeakMap<Db, { client: pg.PoolClient; savepoints: number }>();

/**
 * A `Db` over the client of a transaction already open, for functions that run their own transaction (such as the
 * credits ledger's) when the caller needs their effect in its transaction: withTransaction on it runs in a savepoint,
 * undone alone when it fails, and the caller's COMMIT decides for all of it.
 */
export function inTransaction(client: pg.PoolClient): Db {
  const db: Db = {
    query: client.query.bind(client) as Db['query'],
    connect: () => Promise.reject(new Error('a transaction handle has no connection of its own: use withTransaction')),
  };
  openTransactions.set(db, { client, savepoints: 0 });
  return db;
}

export interface TransactionOptions {
  /**
   * false: the COMMIT does not wait for the disk (synchronous_commit off), for writes a crash may lose (a cache row);
   * set in the BEGIN's round trip. Ignored in a savepoint: the outer transaction decides. Default true.
   */
  durable?: boolean;
}

export async function withTransaction<T>(
  pool: Db,
  fn: (client: pg.PoolClient) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  const open = openTransactions.get(pool);
  if (open) return inSavepoint(open, fn);
  const client = await pool.connect();
  try {
    // Two statements in one simple query: one round trip.
    await client.query(options.durable === false ? 'BEGIN; SET LOCAL synchronous_commit = off' : 'BEGIN');
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

async function inSavepoint<T>(
  open: { client: pg.PoolClient; savepoints: number },
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const name = `nested_${++open.savepoints}`;
  try {
    await open.client.query(`SAVEPOINT ${name}`);
    const result = await fn(open.client);
    await open.client.query(`RELEASE SAVEPOINT ${name}`);
    return result;
  } catch (err) {
    await open.client.query(`ROLLBACK TO SAVEPOINT ${name}`).catch(() => undefined);
    throw err;
  } finally {
    open.savepoints--;
  }
}
