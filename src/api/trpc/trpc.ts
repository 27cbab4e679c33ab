/**
 * The one place that defines the API's context, error shape and procedure builders:
 *  - publicProcedure: anyone (rate-limited per IP);
 *  - authedProcedure: a user (JWT), an API key or an OAuth token;
 *  - orgProcedure(permission): the caller acts inside one organization and holds `permission` there —
 *    users through their role (viewer reads; member writes and deletes; admin/owner administers), API keys through their
 *    permissions, OAuth tokens through their scopes. Membership and permission are checked here and nowhere else.
 */
import { initTRPC, TRPCError } from '@trpc/server';
import type { OpenApiMeta } from 'trpc-to-openapi';
import { z } from 'zod';
import { TenantDb } from '../../db/tenant.js';
import {
  callerName,
  credentialGrants,
  roleGrants,
  type Permission,
  type Role,
  type Subject,
} from '../../auth/authorization.js';
import type { ApiContext } from './context.js';
import { toTRPCError } from './errors.js';

/** OpenAPI metadata, plus `auth: true` on authentication endpoints (their stricter rate limit). */
export type ApiMeta = OpenApiMeta<{ auth?: boolean }>;

const t = initTRPC
  .context<ApiContext>()
  .meta<ApiMeta>()
  .create({
    // Stack traces never leave the server.
    isDev: false,
    errorFormatter({ shape, error }) {
      const cause = error.cause as { issues?: unknown } | undefined;
      return {
        ...shape,
        data: {
          code: shape.data.code,
          httpStatus: shape.data.httpStatus,
          path: shape.data.path,
          // Field-level problems: zod input errors and domain validation (trigger definitions).
          ...(error.code === 'BAD_REQUEST' && cause?.issues ? { issues: normaliseIssues(cause.issues) } : {}),
        },
      };
    },
  });

function normaliseIssues(issues: unknown): { path: string; message: string }[] {
  if (!Array.isArray(issues)) return [];
  return issues.map((i: { path?: unknown; message?: unknown }) => ({
    path: Array.isArray(i.path) ? i.path.join('.') : String(i.path ?? ''),
    message: String(i.message ?? ''),
  }));
}

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;
export const middleware = t.middleware;

/** Domain errors become their HTTP-shaped tRPC errors; anything unexpected is logged and answered as 500 without detail. */
const errorMapping = t.middleware(async ({ ctx, next, path }) => {
  const result = await next();
  if (!result.ok) {
    // tRPC's own errors (input validation, our explicit TRPCErrors) pass through; thrown domain errors are mapped.
    if (result.error.code !== 'INTERNAL_SERVER_ERROR') throw result.error;
    const mapped = toTRPCError(result.error.cause ?? result.error);
    if (mapped.code === 'INTERNAL_SERVER_ERROR')
      ctx.log.error({ err: result.error.cause ?? result.error, path }, 'procedure failed');
    throw mapped;
  }
  return result;
});

export const publicProcedure = t.procedure.use(errorMapping).use(async ({ ctx, next, meta }) => {
  // Credentials that were sent but are wrong are refused even on public procedures: silently ignoring them hides bugs.
  if (ctx.authError) throw ctx.authError;
  await ctx.rateLimit(meta?.auth ? 'auth' : 'api');
  return next();
});

export const authedProcedure = publicProcedure.use(async ({ ctx, next }) => {
  if (ctx.subject.kind === 'anonymous') {
    throw new TRPCError({
      code: 'UNAUTHORIZED',
      message: 'sign in, or send an API key (Authorization: Bearer sk_… or X-API-Key)',
    });
  }
  return next({ ctx: { ...ctx, subject: ctx.subject as Exclude<Subject, { kind: 'anonymous' }> } });
});

export const orgInput = z.object({ organizationId: z.uuid('must be an organization id') });

/**
 * Procedures inside one organization. Input must carry `organizationId`; an API key or OAuth token may only name its
 * own organization. Adds `ctx.org = { id, role | undefined }` and replaces `ctx.pool` by a handle scoped to the
 * organization by Postgres row-level security: a query that forgets its organization filter still cannot cross tenants.
 */
export function orgProcedure(permission: Permission) {
  return authedProcedure.input(orgInput).use(async ({ ctx, input, next, type }) => {
    const organizationId = input.organizationId;
    const role = await authorizeOrganization(ctx, organizationId, permission);
    const result = await next({
      ctx: { ...ctx, org: { id: organizationId, role }, pool: new TenantDb(ctx.tenantPool, organizationId) },
    });
    // A mutation may have changed members, owner or activity: this process re-reads them on the next request rather
    // than waiting for the NOTIFY that tells the other API processes (src/auth/organization-access.ts).
    if (type === 'mutation') ctx.organizationAccess?.invalidatePrefix(organizationId);
    return result;
  });
}

type AuthedContext = ApiContext & { subject: Exclude<Subject, { kind: 'anonymous' }> };

/**
 * Whether the caller may act with `permission` in the organization: users through their role, API keys through their
 * permissions, OAuth tokens through their scopes, a key or token only in its own organization, which must be active.
 * Counts the request against the organization's plan. Returns the user's role (undefined for keys and tokens).
 */
async function authorizeOrganization(
  ctx: AuthedContext,
  organizationId: string,
  permission: Permission,
): Promise<Role | undefined> {
  const s = ctx.subject;
  // One answer for "not a member" and "does not exist": no probing of other tenants.
  const denied = () =>
    new TRPCError({ code: 'FORBIDDEN', message: `no ${permission} access to organization ${organizationId}` });
  let role: Role | undefined;
  if (s.kind === 'user') {
    role = await ctx.roleOf(s.userId, organizationId);
    if (!role || !roleGrants(role, permission)) throw denied();
  } else if (s.kind === 'apiKey') {
    if (s.organizationId !== organizationId) throw denied();
    if (!credentialGrants(s, permission)) {
      throw new TRPCError({ code: 'FORBIDDEN', message: `this API key lacks the '${permission}' permission` });
    }
  } else {
    if (s.organizationId !== organizationId) throw denied();
    if (!credentialGrants(s, permission)) {
      throw new TRPCError({ code: 'FORBIDDEN', message: `this token lacks the '${permission}' scope` });
    }
  }
  // For users, roleOf already required an active organization; keys and tokens are checked here.
  if (s.kind !== 'user' && !(await ctx.organizationActive(organizationId))) throw denied();
  await ctx.rateLimitOrganization(organizationId);
  return role;
}

export const payingOrgInput = z.object({
  /** The organization that pays; API keys and OAuth tokens pay from their own and may leave it out. */
  organizationId: z.uuid('must be an organization id').optional(),
});

/**
 * Paid calls (queries): the caller's organization pays, with the same checks as orgProcedure. A user names the
 * organization; a key or token pays from its own. Adds `ctx.org` and `ctx.payer`, the caller as the ledger and
 * usage log name it.
 */
export function payingProcedure(permission: Permission) {
  return authedProcedure.input(payingOrgInput).use(async ({ ctx, input, next }) => {
    const s = ctx.subject;
    const organizationId = input.organizationId ?? (s.kind === 'user' ? undefined : s.organizationId);
    if (!organizationId) {
      throw new TRPCError({
        code: 'BAD_REQUEST',
        message: 'name the organization that pays for the call: organizationId',
      });
    }
    const role = await authorizeOrganization(ctx, organizationId, permission);
    const caller = callerName(s);
    return next({
      ctx: {
        ...ctx,
        org: { id: organizationId, role },
        payer: { kind: 'organization' as const, organizationId, caller },
      },
    });
  });
}
