import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';

export const createOrganizationMeta: ApiMeta = { openapi: { method: 'POST', path: '/organizations', tags: ['Organizations'], summary: 'Create an organization (you become its owner)', protect: true } };
export const listMembersMeta: ApiMeta = { openapi: { method: 'GET', path: '/organizations/{organizationId}/members', tags: ['Organizations'], summary: 'Members and their roles', protect: true } };
export const addMemberMeta: ApiMeta = { openapi: { method: 'POST', path: '/organizations/{organizationId}/members', tags: ['Organizations'], summary: 'Add an existing user by email with a role', protect: true } };
export const removeMemberMeta: ApiMeta = { openapi: { method: 'DELETE', path: '/organizations/{organizationId}/members/{userId}', tags: ['Organizations'], summary: 'Remove a member', protect: true } };
export const renameOrganizationMeta: ApiMeta = { openapi: { method: 'PATCH', path: '/organizations/{organizationId}', tags: ['Organizations'], summary: 'Rename an organization', protect: true } };

export const ZCreateOrganizationRequest = z.object({
  name: z.string().trim().min(1).max(200),
  slug: z.string().regex(/^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/, 'lower-case letters, digits and dashes, 1-64 characters'),
});
export const organizationOutput = z.object({ id: z.uuid(), name: z.string(), slug: z.string(), plan: z.string(), isPersonal: z.boolean() });
export const ZListMembersRequest = z.looseObject({});
export const memberOutput = z.object({ userId: z.uuid(), username: z.string(), email: z.string(), role: z.enum(['owner', 'admin', 'member', 'viewer']) });
export const ZListMembersResponse = z.object({ items: z.array(memberOutput) });
export const ZAddMemberRequest = z.object({ email: z.email().max(320), role: z.enum(['admin', 'member', 'viewer']) });
export const ZRemoveMemberRequest = z.object({ userId: z.uuid() });
export const ZRemoveMemberResponse = z.object({ removed: z.boolean() });
export const ZRenameOrganizationRequest = z.object({ name: z.string().trim().min(1).max(200) });
