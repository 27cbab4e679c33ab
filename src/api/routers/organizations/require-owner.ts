import { TRPCError } from '@trpc/server';
import type { ApiContext } from '../../trpc/context.js';

/** Owner-only operations: an API key or a non-owner admin is refused. Returns the owner's user id. */
export async function requireOwner(
  ctx: Pick<ApiContext, 'subject' | 'roleOf'>,
  organizationId: string,
): Promise<string> {
  if (ctx.subject.kind !== 'user' || (await ctx.roleOf(ctx.subject.userId, organizationId)) !== 'owner') {
    throw new TRPCError({ code: 'FORBIDDEN', message: 'only the owner can do this' });
  }
  return ctx.subject.userId;
}
