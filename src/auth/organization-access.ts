/**
 * Who may act in an organization: a user's role there and whether the organization is active. Read on every
 * organization-scoped request, so each API process caches the answers (negative ones too) and drops an organization's
 * entries as soon as a NOTIFY on `organization_access_changed` (migration 0013) says its members, owner or activity
 * changed — a removed member or a deactivated organization is refused at once, not after a TTL. While the LISTEN
 * connection is down the cache is bypassed.
 */
import type pg from 'pg';
import type * as s from 'zapatos/schema';
import type { Role } from './authorization.js';
import { NotifiedCache } from './notified-cache.js';

export const ORGANIZATION_ACCESS_CHANNEL = 'organization_access_changed';

/** The user's role in an active organization; undefined when not a member or the organization is inactive. */
export async function roleInOrganization(
  db: pg.Pool,
  userId: string,
  organizationId: string,
): Promise<Role | undefined> {
  const { rows } = await db.query<{ role: Role }>(
    `SELECT CASE WHEN o.owner_id = $1 THEN 'owner' ELSE m.role END AS role
     FROM organizations o LEFT JOIN organization_members m ON m.organization_id = o.id AND m.user_id = $1
     WHERE o.id = $2 AND o.is_active AND (o.owner_id = $1 OR m.user_id IS NOT NULL)`,
    [userId, organizationId],
  );
  return rows[0]?.role;
}

export async function organizationIsActive(db: pg.Pool, organizationId: string): Promise<boolean> {
  const { rows } = await db.query<Pick<s.organizations.Selectable, 'is_active'>>(
    'SELECT is_active FROM organizations WHERE id = $1',
    [organizationId],
  );
  return rows[0]?.is_active === true;
}

/** A cached answer, filed under its organization (the notification's payload). Negative answers are cached too. */
interface Answer<T> {
  organizationId: string;
  value: T;
}

export class OrganizationAccessCache extends NotifiedCache<Answer<Role | null | boolean>> {
  constructor(
    options: {
      ttlMs?: number;
      maxEntries?: number;
      applicationName?: string;
      onListenerError?: (err: unknown) => void;
    } = {},
  ) {
    super({
      ...options,
      name: 'OrganizationAccessCache',
      channel: ORGANIZATION_ACCESS_CHANNEL,
      applicationName: options.applicationName ?? 'erc8004-organization-access-listener',
      prefixOf: (answer) => answer.organizationId,
    });
  }

  async roleOf(db: pg.Pool, userId: string, organizationId: string): Promise<Role | undefined> {
    const answer = await this.load(`role:${userId}:${organizationId}`, async () => ({
      organizationId,
      value: (await roleInOrganization(db, userId, organizationId)) ?? null,
    }));
    return (answer.value as Role | null) ?? undefined;
  }

  async isActive(db: pg.Pool, organizationId: string): Promise<boolean> {
    const answer = await this.load(`active:${organizationId}`, async () => ({
      organizationId,
      value: await organizationIsActive(db, organizationId),
    }));
    return answer.value === true;
  }
}
