import { describe, expect, it } from 'vitest';
import { roleGrants, type Permission, type Role } from '../../src/auth/authorization.js';

describe('roleGrants', () => {
  const grants = (role: Role) =>
    (['read', 'write', 'delete', 'admin'] as Permission[]).filter((permission) => roleGrants(role, permission));

  it('a viewer reads, a member also writes and deletes, an admin and the owner administer', () => {
    expect(grants('viewer')).toEqual(['read']);
    expect(grants('member')).toEqual(['read', 'write', 'delete']);
    expect(grants('admin')).toEqual(['read', 'write', 'delete', 'admin']);
    expect(grants('owner')).toEqual(['read', 'write', 'delete', 'admin']);
  });
});
