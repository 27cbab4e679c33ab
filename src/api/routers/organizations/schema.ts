import { z } from 'zod';
import type { Invitation } from '../../../auth/invitations.js';

/** Schemas several organization procedures answer with. */
export const organizationOutput = z.object({
  id: z.uuid(),
  name: z.string(),
  slug: z.string(),
  plan: z.string(),
  isPersonal: z.boolean(),
});
export const memberOutput = z.object({
  userId: z.uuid(),
  username: z.string(),
  email: z.string(),
  role: z.enum(['owner', 'admin', 'member', 'viewer']),
});
export const invitationOutput = z.object({
  id: z.uuid(),
  email: z.string(),
  role: z.enum(['admin', 'member', 'viewer']),
  status: z.enum(['pending', 'accepted', 'declined', 'revoked', 'expired']),
  expiresAt: z.string(),
  createdAt: z.string(),
});
export type InvitationOutput = z.infer<typeof invitationOutput>;

export function toInvitationOutput(i: Invitation): InvitationOutput {
  return {
    id: i.id,
    email: i.email,
    role: i.role,
    status: i.status,
    expiresAt: i.expiresAt.toISOString(),
    createdAt: i.createdAt.toISOString(),
  };
}
