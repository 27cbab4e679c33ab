/**
 * Row-level security for organization-scoped work (migration 0012): the second line of tenancy behind the API's
 * membership and permission check. The tenant pool's connections run as the role `erc8004_tenant`, to which the
 * policies apply; a `TenantDb` sets `app.organization_id` on a connection every time it takes one, so whatever ran on
 * that connection before, its queries see and change only the organization's rows.
 */
import type pg from 'pg';
import type { Logger } from '../logger.js';
import { createPool, type Db } from './pool.js';

export const TENANT_ROLE = 'erc8004_tenant';

/** Connections for organization-scoped queries: same server and database, switched to the tenant role on login. */
export function createTenantPool(
  url: string,
  logger: Logger,
  options: { max?: number; applicationName?: string } = {},
): pg.Pool {
  return createPool(url, logger, {
    ...options,
    applicationName: options.applicationName ?? 'erc8004-api-tenant',
    role: TENANT_ROLE,
  });
}

/**
 * The organization each tenant connection was last set to. pg reuses one client object per connection, and only
 * TenantDb sets the value (never inside a transaction, so no rollback can undo it): when the next checkout is for the
 * same organization, the round trip is skipped.
 */
const organizationOfConnection = new WeakMap<pg.PoolClient, string>();

/** A database handle for one organization: every query, and every client it hands out, is scoped to it. */
export class TenantDb implements Db {
  constructor(
    private readonly tenantPool: pg.Pool,
    readonly organizationId: string,
  ) {}

  async connect(): Promise<pg.PoolClient> {
    const client = await this.tenantPool.connect();
    if (organizationOfConnection.get(client) === this.organizationId) return client;
    try {
      // Session-level (not transaction-local) so that services may run several statements or their own transaction;
      // it is set at every checkout for another organization, so a value left by an earlier user never applies.
      organizationOfConnection.delete(client);
      await client.query({
        name: 'tenant-set-organization',
        text: "SELECT set_config('app.organization_id', $1, false)",
        values: [this.organizationId],
      });
      organizationOfConnection.set(client, this.organizationId);
    } catch (err) {
      client.release(err as Error);
      throw err;
    }
    return client;
  }

  // pg's query has many overloads (callbacks, configs, array rows); delegating them all keeps this a drop-in for a pool.
  readonly query = (async (...args: Parameters<pg.PoolClient['query']>) => {
    const client = await this.connect();
    try {
      return await (client.query as (...a: unknown[]) => Promise<unknown>)(...args);
    } finally {
      client.release();
    }
  }) as unknown as pg.Pool['query'];
}
