/**
 * Who calls the MCP endpoint. The credential is verified exactly as for tRPC and REST (src/api/trpc/context.ts: API
 * keys and OAuth access tokens, with the same caches, guard and rate limits); the answers follow the MCP authorization
 * spec and the SDK's requireBearerAuth: 401 with `WWW-Authenticate: Bearer error="invalid_token", …, resource_metadata`
 * for a missing or bad credential, 403 with error="insufficient_scope" when it lacks the 'read' permission or scope.
 * User session tokens are refused: a call is paid by an organization, and a key or token names exactly one.
 */
import type http from 'node:http';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { callerName, credentialGrants, type OrganizationCredential } from '../auth/authorization.js';
import { createApiContext, type ApiContext, type ApiServices } from '../api/trpc/context.js';
import { HttpError } from '../api/http.js';
import { TRPCError } from '@trpc/server';

/** The permission (API key) or scope (OAuth token) that calling the query tools takes. */
export const MCP_REQUIRED_SCOPE = 'read';

export type McpCaller =
  | {
      kind: 'organization';
      organizationId: string;
      /** As the ledger and usage logs name the caller: 'apiKey:<id>' or 'oauth:<clientId>'. */
      caller: string;
      authInfo: AuthInfo;
    }
  /** No credential, accepted only when pay-per-call is enabled: each tool call must carry a payment. */
  | { kind: 'anonymous' };

/** An organization credential's verification is reused for at most this long (ApiKeyCache, OAuthTokenCache). */
const AUTH_INFO_LIFETIME_SECONDS = 60;

/**
 * Authenticates an MCP request and counts it against the caller's rate limit. Refusals are thrown as HttpError with
 * the OAuth error body and challenge; rate-limit headers are set on `res` either way.
 */
export async function authenticateMcpRequest(
  services: ApiServices,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  /** Without `resourceMetadataUrl` (the A2A endpoints reuse this) the challenge names no resource metadata. */
  options: { resourceMetadataUrl?: string; allowAnonymous: boolean },
): Promise<{ caller: McpCaller; context: ApiContext }> {
  const context = await createApiContext(services, req, (name, value) => {
    if (!res.headersSent) res.setHeader(name, value);
  });
  const challenge = (error: OAuthErrorCode, description: string, status: 401 | 403) =>
    bearerChallenge(error, description, status, options.resourceMetadataUrl);
  const { subject, authError } = context;
  if (authError) throw refusalOf(authError, challenge);
  if (subject.kind === 'anonymous' && !options.allowAnonymous)
    throw challenge('invalid_token', 'an API key or OAuth access token is required', 401);
  if (subject.kind === 'user')
    throw challenge('invalid_token', 'the MCP endpoint takes an API key or an OAuth access token', 401);
  if (subject.kind !== 'anonymous') {
    if (!credentialGrants(subject, MCP_REQUIRED_SCOPE)) {
      const what =
        subject.kind === 'apiKey' ? 'this API key lacks the read permission' : 'this token lacks the read scope';
      throw challenge('insufficient_scope', what, 403);
    }
    // Verification refuses deactivated organizations; this catches one deactivated while the credential is cached.
    if (!(await context.organizationActive(subject.organizationId)))
      throw challenge('invalid_token', 'the organization of this credential is deactivated', 401);
  }
  try {
    await context.rateLimit('api');
  } catch (err) {
    if (err instanceof TRPCError) throw refusalOf(err, challenge);
    throw err;
  }
  if (subject.kind === 'anonymous') return { caller: { kind: 'anonymous' }, context };
  return { caller: organizationCaller(subject, req), context };
}

type OAuthErrorCode = 'invalid_token' | 'insufficient_scope';

/** A refusal as RFC 6750 §3 words it, with the resource metadata the MCP authorization spec adds (RFC 9728). */
function bearerChallenge(error: OAuthErrorCode, description: string, status: 401 | 403, resourceMetadataUrl?: string) {
  // A quoted-string may not hold a bare quote or backslash (RFC 9110 §5.6.4); the body keeps the message as is.
  const quoted = description.replace(/["\\]/g, "'");
  const header =
    `Bearer error="${error}", error_description="${quoted}", scope="${MCP_REQUIRED_SCOPE}"` +
    (resourceMetadataUrl ? `, resource_metadata="${resourceMetadataUrl}"` : '');
  return new HttpError(status, description, { 'www-authenticate': header }, undefined, {
    error,
    error_description: description,
  });
}

/** The context's refusals: a rate limit stays a 429, any other is a bad credential. */
function refusalOf(
  error: TRPCError,
  challenge: (error: OAuthErrorCode, description: string, status: 401) => HttpError,
) {
  if (error.code === 'TOO_MANY_REQUESTS') return new HttpError(429, error.message);
  return challenge('invalid_token', error.message, 401);
}

function organizationCaller(credential: OrganizationCredential, req: http.IncomingMessage): McpCaller {
  const caller = callerName(credential);
  const token = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim();
  return {
    kind: 'organization',
    organizationId: credential.organizationId,
    caller,
    authInfo: {
      token: token ?? String(req.headers['x-api-key'] ?? ''),
      clientId: caller,
      scopes: credential.kind === 'apiKey' ? credential.permissions : credential.scopes,
      // Keys may never expire, but the SDK's auth info wants an expiry: the verification's own lifetime here.
      expiresAt: Math.floor(Date.now() / 1000) + AUTH_INFO_LIFETIME_SECONDS,
      extra: { organizationId: credential.organizationId },
    },
  };
}
