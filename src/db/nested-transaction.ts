/**
 * A `Db` over the client of a transaction already open, for functions that run their own transaction
 * (`withTransaction(db, …)`, such as the credits ledger's) when the caller needs their effect in its transaction:
 * their BEGIN / COMMIT / ROLLBACK become a savepoint, its release and a rollback to it. The caller's COMMIT then
 * decides for all of it.
 */
import type pg from 'pg';
import type { Db } from './pool.js';

export function nestedIn(client: pg.PoolClient): Db {
  let depth = 0;
  const translate = (text: unknown): unknown => {
    if (typeof text !== 'string') return text;
    switch (text.trim().toUpperCase()) {
      case 'BEGIN':
        depth += 1;
        return `SAVEPOINT nested_${depth}`;
      case 'COMMIT':
        return `RELEASE SAVEPOINT nested_${depth--}`;
      case 'ROLLBACK':
        return `ROLLBACK TO SAVEPOINT nested_${depth--}`;
      default:
        return text;
    }
  };
  const nested = new Proxy(client, {
    get(target, property, receiver) {
      // The caller releases its client; the nested "transaction" must not.
      if (property === 'release') return () => undefined;
      if (property === 'query')
        return (text: unknown, ...rest: unknown[]) =>
          (target.query as (...args: unknown[]) => unknown).call(target, translate(text), ...rest);
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return {
    query: ((...args: unknown[]) => (nested.query as (...a: unknown[]) => unknown)(...args)) as Db['query'],
    connect: async () => nested,
  };
}
