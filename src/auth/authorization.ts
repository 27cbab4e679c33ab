/**
 * The authorization vocabulary: who calls (a Subject), the roles users hold in an organization, and the permissions
 * that roles, API keys and OAuth scopes grant. The checks themselves run in one place (orgProcedure, src/api/trpc).
 */

export const ROLE_RANK = { viewer: 1, member: 2, admin: 3, owner: 4 } as const;
export type Role = keyof typeof ROLE_RANK;

export type Permission = 'read' | 'write' | 'delete' | 'admin';

/** The least role that holds a permission. */
const ROLE_FOR: Record<Permission, Role> = { read: 'viewer', write: 'member', delete: 'member', admin: 'admin' };

/** Whether a user with this role holds the permission (viewer reads; member writes and deletes; admin/owner administers). */
export function roleGrants(role: Role, permission: Permission): boolean {
  return ROLE_RANK[role] >= ROLE_RANK[ROLE_FOR[permission]];
}

export type Subject =
  | { kind: 'anonymous' }
  | { kind: 'user'; userId: string }
  | {
      kind: 'apiKey';
      keyId: string;
      organizationId: string;
      permissions: Permission[];
      keyType: 'standard' | 'restricted' | 'admin';
      rateLimitOverride: number | null;
    }
  | { kind: 'oauth'; clientId: string; organizationId: string; scopes: Permission[] };

/** A credential an organization issued: an API key or an OAuth client's access token. */
export type OrganizationCredential = Extract<Subject, { kind: 'apiKey' } | { kind: 'oauth' }>;

/** Whether an API key's permissions or an OAuth token's scopes grant `permission` ('admin', and admin keys, grant all). */
export function credentialGrants(credential: OrganizationCredential, permission: Permission): boolean {
  const granted = credential.kind === 'apiKey' ? credential.permissions : credential.scopes;
  return (
    (credential.kind === 'apiKey' && credential.keyType === 'admin') ||
    granted.includes(permission) ||
    granted.includes('admin')
  );
}

/** The caller as the ledger and the usage log name it: 'user:<id>', 'apiKey:<id>' or 'oauth:<clientId>'. */
export function callerName(subject: Exclude<Subject, { kind: 'anonymous' }>): string {
  if (subject.kind === 'user') return `user:${subject.userId}`;
  return subject.kind === 'apiKey' ? `apiKey:${subject.keyId}` : `oauth:${subject.clientId}`;
}
