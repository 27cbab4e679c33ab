/**
 * Organizations and their members: creating, renaming, deleting and handing over an organization, listing and removing
 * members. Who may do what is checked by the caller (orgProcedure and the owner check in src/api); members join by
 * invitation (src/auth/invitations.ts).
 */
import type * as s from 'zapatos/schema';
import type { Role } from '../auth/authorization.js';
import { AuthError } from '../auth/errors.js';
import type { Db } from '../db/pool.js';
import { withTransaction, type Queryable } from '../db/transaction.js';

export interface Organization {
  id: string;
  name: string;
  slug: string;
  plan: string;
  isPersonal: boolean;
}

export interface Member {
  userId: string;
  username: string;
  email: string;
  role: Role;
}

type OrganizationRow = s.organizations.Selectable;
type MemberRow = { user_id: s.users.Selectable['id'] } & Pick<s.users.Selectable, 'username' | 'email'> & {
    // organization_members.role is CHECK-constrained to the roles below the owner; the owner comes from owner_id.
    role: Role;
  };

const toOrganization = (o: OrganizationRow): Organization => ({
  id: o.id,
  name: o.name,
  slug: o.slug,
  plan: o.plan,
  isPersonal: o.is_personal,
});

/** A new organization owned by the user. */
export async function createOrganization(
  db: Queryable,
  input: { name: string; slug: string; ownerId: string },
): Promise<Organization> {
  const { rows } = await db.query<OrganizationRow>(
    'INSERT INTO organizations (name, slug, owner_id) VALUES ($1, $2, $3) RETURNING *',
    [input.name, input.slug, input.ownerId],
  );
  return toOrganization(rows[0]!);
}

export async function renameOrganization(db: Queryable, organizationId: string, name: string): Promise<Organization> {
  const { rows } = await db.query<OrganizationRow>('UPDATE organizations SET name = $2 WHERE id = $1 RETURNING *', [
    organizationId,
    name,
  ]);
  return toOrganization(rows[0]!);
}

/** The owner and the members with their roles. */
export async function listMembers(db: Queryable, organizationId: string): Promise<Member[]> {
  const { rows } = await db.query<MemberRow>(
    `SELECT u.id AS user_id, u.username, u.email, 'owner' AS role FROM organizations o JOIN users u ON u.id = o.owner_id WHERE o.id = $1
     UNION ALL
     SELECT u.id, u.username, u.email, m.role FROM organization_members m JOIN users u ON u.id = m.user_id
     JOIN organizations o ON o.id = m.organization_id WHERE m.organization_id = $1 AND m.user_id <> o.owner_id`,
    [organizationId],
  );
  return rows.map((r) => ({ userId: r.user_id, username: r.username, email: r.email, role: r.role }));
}

/** Whether the user was a member (and is no longer). */
export async function removeMember(db: Queryable, organizationId: string, userId: string): Promise<boolean> {
  const { rowCount } = await db.query('DELETE FROM organization_members WHERE organization_id = $1 AND user_id = $2', [
    organizationId,
    userId,
  ]);
  return (rowCount ?? 0) > 0;
}

/**
 * Deletes the organization with its triggers, each through `triggers.delete` first so that no trigger workflow keeps
 * running for a vanished organization. Returns how many triggers went.
 */
export async function deleteOrganization(
  db: Queryable,
  triggers: { delete(triggerId: string, organizationId: string): Promise<void> },
  organizationId: string,
): Promise<{ triggersDeleted: number }> {
  const { rows } = await db.query<Pick<s.triggers.Selectable, 'id'>>(
    'SELECT id FROM triggers WHERE organization_id = $1',
    [organizationId],
  );
  for (const t of rows) await triggers.delete(t.id, organizationId);
  await db.query('DELETE FROM organizations WHERE id = $1', [organizationId]);
  return { triggersDeleted: rows.length };
}

/**
 * Makes a member the owner; the previous owner stays as an admin. AuthError 'invalid_input' when the new owner is the
 * current one or not a member.
 */
export async function transferOrganization(
  db: Db,
  input: { organizationId: string; currentOwnerId: string; newOwnerId: string },
): Promise<Organization> {
  const { organizationId, currentOwnerId, newOwnerId } = input;
  if (newOwnerId === currentOwnerId) throw new AuthError('invalid_input', 'you already own this organization');
  return withTransaction(db, async (client) => {
    const member = await client.query(
      'SELECT 1 FROM organization_members WHERE organization_id = $1 AND user_id = $2',
      [organizationId, newOwnerId],
    );
    if (!member.rowCount) throw new AuthError('invalid_input', 'the new owner must be a member of the organization');
    await client.query('DELETE FROM organization_members WHERE organization_id = $1 AND user_id = $2', [
      organizationId,
      newOwnerId,
    ]);
    await client.query(
      `INSERT INTO organization_members (organization_id, user_id, role) VALUES ($1, $2, 'admin') ON CONFLICT (organization_id, user_id) DO UPDATE SET role = 'admin'`,
      [organizationId, currentOwnerId],
    );
    const { rows } = await client.query<OrganizationRow>(
      'UPDATE organizations SET owner_id = $2 WHERE id = $1 RETURNING *',
      [organizationId, newOwnerId],
    );
    return toOrganization(rows[0]!);
  });
}
