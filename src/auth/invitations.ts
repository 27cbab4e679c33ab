/**
 * Membership by consent: an admin or the owner invites an email address with a role (never above their own); the
 * invitation's token goes to that address by mail; a signed-in user whose VERIFIED address is the invited one accepts
 * (becoming a member) or declines. Invitations expire, can be revoked, and end once. Inviting says nothing about
 * whether the address has an account. Only the sha256 of a token is stored.
 */
import { createHash, randomBytes } from 'node:crypto';
import type pg from 'pg';
import type * as s from 'zapatos/schema';
import type { Row } from '../db/rows.js';
import { AuthError } from './errors.js';
import type { Db } from '../db/pool.js';
import { withTransaction, type Queryable } from '../db/transaction.js';
import { ROLE_RANK, type Role } from './authorization.js';

export const INVITATION_TTL_SECONDS = 7 * 24 * 3600;
export const INVITATION_TOKEN_PATTERN = /^inv_[A-Za-z0-9_-]{20,100}$/;

export type InvitableRole = Exclude<Role, 'owner'>;
export type InvitationStatus = 'pending' | 'accepted' | 'declined' | 'revoked' | 'expired';

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

export interface Invitation {
  id: string;
  organizationId: string;
  email: string;
  role: InvitableRole;
  status: InvitationStatus;
  invitedBy: string | null;
  expiresAt: Date;
  createdAt: Date;
}

const STATUS_SQL = `CASE WHEN accepted_at IS NOT NULL THEN 'accepted' WHEN declined_at IS NOT NULL THEN 'declined'
  WHEN revoked_at IS NOT NULL THEN 'revoked' WHEN expires_at <= now() THEN 'expired' ELSE 'pending' END`;
const OPEN_SQL = 'accepted_at IS NULL AND declined_at IS NULL AND revoked_at IS NULL';

/** organization_invitations.role is CHECK-constrained to the invitable roles; the status is computed (STATUS_SQL). */
type InvitationRow = Row<
  s.organization_invitations.Selectable,
  keyof s.organization_invitations.Selectable,
  { role: InvitableRole }
> & { status: InvitationStatus };

const toInvitation = (r: InvitationRow): Invitation => ({
  id: r.id,
  organizationId: r.organization_id,
  email: r.email,
  role: r.role,
  status: r.status,
  invitedBy: r.invited_by,
  expiresAt: r.expires_at,
  createdAt: r.created_at,
});

export interface NewInvitation {
  organizationId: string;
  email: string;
  role: InvitableRole;
  /** The inviter's own role (an API key or OAuth token with the admin permission counts as admin). */
  inviterRole: Role;
  /** The user the invitation is attributed to. */
  invitedBy: string;
}

/**
 * Creates an invitation and returns it with its token (to be mailed, never shown to the inviter) and what the mail
 * names: the organization and the inviter. An open invitation of the same address to the same organization is
 * replaced (revoked), so that only the newest link works.
 */
export async function createInvitation(
  db: Db,
  input: NewInvitation,
): Promise<{ invitation: Invitation; token: string; organizationName: string; inviterName: string }> {
  if (ROLE_RANK[input.role] > ROLE_RANK[input.inviterRole]) {
    throw new AuthError('forbidden', `you cannot invite with a role above your own (${input.inviterRole})`);
  }
  const email = input.email.trim().toLowerCase();
  const token = `inv_${randomBytes(32).toString('base64url')}`;
  return withTransaction(db, async (client) => {
    await client.query(
      `UPDATE organization_invitations SET revoked_at = now(), revoked_by = $3
       WHERE organization_id = $1 AND email = $2 AND ${OPEN_SQL}`,
      [input.organizationId, email, input.invitedBy],
    );
    const { rows } = await client.query<InvitationRow>(
      `INSERT INTO organization_invitations (organization_id, email, role, token_hash, invited_by, expires_at)
       VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6)) RETURNING *, 'pending' AS status`,
      [input.organizationId, email, input.role, hashToken(token), input.invitedBy, INVITATION_TTL_SECONDS],
    );
    const { rows: names } = await client.query<{ organization_name: string; inviter_name: string }>(
      `SELECT o.name AS organization_name, coalesce((SELECT username FROM users WHERE id = $2), 'a member') AS inviter_name
       FROM organizations o WHERE o.id = $1`,
      [input.organizationId, input.invitedBy],
    );
    return {
      invitation: toInvitation(rows[0]!),
      token,
      organizationName: names[0]!.organization_name,
      inviterName: names[0]!.inviter_name,
    };
  });
}

/** The organization's invitations, newest first. */
export async function listInvitations(db: Queryable, organizationId: string): Promise<Invitation[]> {
  const { rows } = await db.query<InvitationRow>(
    `SELECT *, ${STATUS_SQL} AS status FROM organization_invitations WHERE organization_id = $1 ORDER BY created_at DESC LIMIT 500`,
    [organizationId],
  );
  return rows.map(toInvitation);
}

/** Revokes an open invitation of the organization; AuthError 'not_found' when there is none with that id. */
export async function revokeInvitation(
  db: Queryable,
  organizationId: string,
  invitationId: string,
  revokedBy: string,
): Promise<Invitation> {
  const { rows } = await db.query<InvitationRow>(
    `UPDATE organization_invitations SET revoked_at = now(), revoked_by = $3
     WHERE organization_id = $1 AND id = $2 AND ${OPEN_SQL} AND expires_at > now()
     RETURNING *, 'revoked' AS status`,
    [organizationId, invitationId, revokedBy],
  );
  if (!rows[0]) throw new AuthError('not_found', 'no open invitation with this id in this organization');
  return toInvitation(rows[0]);
}

/** Deletes an invitation whose mail could not be sent (nobody has its token). */
export async function discardInvitation(db: Queryable, organizationId: string, invitationId: string): Promise<void> {
  await db.query('DELETE FROM organization_invitations WHERE organization_id = $1 AND id = $2', [
    organizationId,
    invitationId,
  ]);
}

export interface InvitationAnswer {
  organizationId: string;
  role: InvitableRole;
  username: string;
  email: string;
}

/**
 * The signed-in user accepts (joins with the invited role) or declines an invitation. It must be open and unexpired,
 * addressed to the user's email, and that email verified. Unknown, used, expired, revoked and someone else's
 * invitations get one answer ('not_found'), so that a token says nothing to anyone else; the owner of the address is
 * told to verify it first ('forbidden').
 */
export async function answerInvitation(
  pool: pg.Pool,
  userId: string,
  token: string,
  answer: 'accept' | 'decline',
): Promise<InvitationAnswer> {
  return withTransaction(pool, async (client) => {
    const { rows } = await client.query<
      Pick<InvitationRow, 'id' | 'organization_id' | 'role' | 'invited_by'> &
        Pick<s.users.Selectable, 'username' | 'email'> & { verified: boolean; is_owner: boolean }
    >(
      `SELECT i.id, i.organization_id, i.role, i.invited_by, u.username, u.email, u.email_verified_at IS NOT NULL AS verified,
              o.owner_id = u.id AS is_owner
       FROM organization_invitations i
       JOIN users u ON u.id = $2 AND u.is_active AND u.email = i.email
       JOIN organizations o ON o.id = i.organization_id AND o.is_active
       WHERE i.token_hash = $1 AND i.accepted_at IS NULL AND i.declined_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > now()
       FOR UPDATE OF i`,
      [hashToken(token), userId],
    );
    const found = rows[0];
    if (!found) throw new AuthError('not_found', 'no open invitation with this token for your email address');
    if (!found.verified) {
      throw new AuthError(
        'forbidden',
        'verify your email address first (POST /api/v1/auth/verify-email/resend sends a new link)',
      );
    }
    if (answer === 'decline') {
      await client.query('UPDATE organization_invitations SET declined_at = now() WHERE id = $1', [found.id]);
    } else {
      if (found.is_owner) throw new AuthError('conflict', 'you own this organization');
      await client.query('UPDATE organization_invitations SET accepted_at = now(), accepted_by = $2 WHERE id = $1', [
        found.id,
        userId,
      ]);
      await client.query(
        `INSERT INTO organization_members (organization_id, user_id, role, invited_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (organization_id, user_id) DO UPDATE SET role = EXCLUDED.role, invited_by = EXCLUDED.invited_by`,
        [found.organization_id, userId, found.role, found.invited_by],
      );
    }
    return { organizationId: found.organization_id, role: found.role, username: found.username, email: found.email };
  });
}
