/** The authenticated A2A caller as the SDK carries it (ServerCallContext.user): an organization's API key or token. */
import type { ServerCallContext, User } from '@a2a-js/sdk/server';
import { UnsupportedOperationError } from '@a2a-js/sdk/errors';
import type { TaskOwner } from './tasks.js';

export class OrganizationUser implements User {
  constructor(
    readonly organizationId: string,
    /** 'apiKey:<id>' or 'oauth:<client id>', as the ledger and usage logs name callers. */
    readonly caller: string,
  ) {}

  get isAuthenticated(): boolean {
    return true;
  }

  get userName(): string {
    return this.caller;
  }
}

/** The caller of a request that reached the handler (src/a2a/handler.ts lets no other through). */
export function callerOf(context: ServerCallContext): OrganizationUser {
  const user = context.user;
  if (!(user instanceof OrganizationUser)) throw new UnsupportedOperationError('an API key or OAuth token is required');
  return user;
}

export const ownerOf = (context: ServerCallContext): TaskOwner => ({
  organizationId: callerOf(context).organizationId,
});
