/**
 * POST /oauth/token: the OAuth 2.0 token endpoint, client credentials grant only (RFC 6749 §4.4).
 *
 * - Body: application/x-www-form-urlencoded (the RFC's encoding) or application/json with string values; at most
 *   16 KiB (413 beyond). A parameter may appear once.
 * - Client authentication: HTTP Basic (`client_id:client_secret`, each form-urlencoded, RFC 6749 §2.3.1) or the body
 *   parameters client_id and client_secret; never both methods at once.
 * - Errors as RFC 6749 §5.2: JSON `{ error, error_description }`; 400, or 401 with `WWW-Authenticate: Basic` for
 *   invalid_client. Every answer carries `Cache-Control: no-store`.
 * - Rate limit: the 'auth' scope per client IP (like login), counted for every POST before anything else is read.
 */
import type http from 'node:http';
import type pg from 'pg';
import { issueClientCredentialsToken } from '../auth/oauth.js';
import { isAuthError } from '../auth/errors.js';
import type { Logger } from '../logger.js';
import { clientIpOf, type TrustedProxies } from './client-ip.js';
import { bucketFor, rateLimitHeaders, type RateLimiter } from '../rate-limit.js';

export const OAUTH_TOKEN_PATH = '/oauth/token';
export const OAUTH_TOKEN_MAX_BODY_BYTES = 16 * 1024;

export interface OAuthTokenEndpointDeps {
  pool: pg.Pool;
  rateLimiter: RateLimiter;
  logger: Logger;
  trustedProxies?: TrustedProxies;
}

type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'too_many_requests'
  | 'server_error';

/** An RFC 6749 §5.2 error answer. */
class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly error: OAuthErrorCode,
    readonly description: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
  }
}

const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };
const BASIC_CHALLENGE = { 'WWW-Authenticate': 'Basic realm="oauth", charset="UTF-8"' };

const invalidRequest = (description: string) => new OAuthError(400, 'invalid_request', description);
const invalidClient = (description = 'client authentication failed') =>
  new OAuthError(401, 'invalid_client', description, BASIC_CHALLENGE);

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(payload)),
    ...NO_STORE,
    ...headers,
  });
  res.end(payload);
}

async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  const tooLarge = () =>
    new OAuthError(413, 'invalid_request', `request body larger than ${OAUTH_TOKEN_MAX_BODY_BYTES} bytes`);
  if (declared > OAUTH_TOKEN_MAX_BODY_BYTES) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > OAUTH_TOKEN_MAX_BODY_BYTES) throw tooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The request parameters, each at most once; parameters without a value count as absent (RFC 6749 §3.1). */
function parseParams(req: http.IncomingMessage, body: Buffer): Map<string, string> {
  const type = (req.headers['content-type'] ?? '').toLowerCase();
  const params = new Map<string, string>();
  const add = (name: string, value: string) => {
    if (params.has(name)) throw invalidRequest(`parameter ${name} is repeated`);
    if (value !== '') params.set(name, value);
  };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw invalidRequest('the body is not valid UTF-8');
  }
  if (/^application\/x-www-form-urlencoded\b/.test(type)) {
    if (/%(?![0-9a-f]{2})/i.test(text)) throw invalidRequest('malformed form body');
    for (const [name, value] of new URLSearchParams(text)) add(name, value);
    return params;
  }
  if (/^application\/json\b/.test(type)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw invalidRequest('malformed JSON body');
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
      throw invalidRequest('the JSON body must be an object');
    for (const [name, value] of Object.entries(parsed)) {
      if (typeof value !== 'string') throw invalidRequest(`parameter ${name} must be a string`);
      add(name, value);
    }
    return params;
  }
  throw invalidRequest('content-type must be application/x-www-form-urlencoded (or application/json)');
}

/** Decodes an application/x-www-form-urlencoded component (RFC 6749 §2.3.1), or undefined if malformed. */
function formDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/** The client's credentials from Basic authentication or the body (exactly one of them). */
function clientCredentials(
  req: http.IncomingMessage,
  params: Map<string, string>,
): { clientId: string; clientSecret: string; basic: boolean } {
  const header = req.headers.authorization;
  if (header !== undefined) {
    const m = /^Basic[ ]+([A-Za-z0-9+/]+={0,2})[ ]*$/i.exec(header);
    if (!m) throw invalidClient('Authorization must be "Basic base64(client_id:client_secret)"');
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw invalidClient('malformed Basic credentials');
    const clientId = formDecode(decoded.slice(0, colon));
    const clientSecret = formDecode(decoded.slice(colon + 1));
    if (!clientId || clientSecret === undefined) throw invalidClient('malformed Basic credentials');
    if (params.has('client_secret'))
      throw invalidRequest('use one client authentication method: Basic or body parameters, not both');
    if (params.has('client_id') && params.get('client_id') !== clientId)
      throw invalidRequest('client_id differs from the Basic credentials');
    return { clientId, clientSecret, basic: true };
  }
  const clientId = params.get('client_id');
  const clientSecret = params.get('client_secret');
  if (!clientId || !clientSecret)
    throw invalidClient('client authentication required (HTTP Basic, or client_id and client_secret)');
  return { clientId, clientSecret, basic: false };
}

/** The handler of POST /oauth/token. */
export function createOAuthTokenHandler(
  deps: OAuthTokenEndpointDeps,
): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> {
  const log = deps.logger.child({ component: 'oauth-token' });
  return async (req, res) => {
    const headers: Record<string, string> = {};
    try {
      if (req.method !== 'POST') throw new OAuthError(405, 'invalid_request', 'use POST', { Allow: 'POST' });
      const ip = clientIpOf(req, deps.trustedProxies);
      const { bucket, limit, windowSeconds } = bucketFor({ kind: 'anonymous', ip }, 'auth');
      const decision = await deps.rateLimiter.consume(bucket, limit, windowSeconds);
      Object.assign(headers, rateLimitHeaders(decision));
      if (!decision.allowed) {
        throw new OAuthError(
          429,
          'too_many_requests',
          `rate limit of ${decision.limit} requests exceeded; retry in ${decision.retryAfterSeconds} s`,
        );
      }

      const params = parseParams(req, await readBody(req));
      const grantType = params.get('grant_type');
      if (!grantType) throw invalidRequest('grant_type is required');
      if (grantType !== 'client_credentials')
        throw new OAuthError(400, 'unsupported_grant_type', 'only grant_type=client_credentials is supported');
      const { clientId, clientSecret } = clientCredentials(req, params);

      try {
        const token = await issueClientCredentialsToken(deps.pool, {
          clientId,
          clientSecret,
          scope: params.get('scope'),
        });
        log.info({ clientId, scope: token.scope, ip }, 'access token issued');
        send(res, 200, token, headers);
      } catch (err) {
        if (isAuthError(err, 'invalid_credentials')) throw invalidClient();
        if (isAuthError(err, 'forbidden')) throw new OAuthError(400, 'invalid_scope', err.message);
        throw err;
      }
    } catch (err) {
      if (res.headersSent) {
        res.end();
        return;
      }
      if (err instanceof OAuthError) {
        send(res, err.status, { error: err.error, error_description: err.description }, { ...headers, ...err.headers });
      } else {
        log.error({ err }, 'token request failed');
        send(res, 500, { error: 'server_error', error_description: 'internal error' }, headers);
      }
      // A refused upload may still be streaming: drop the connection once the answer is out, instead of reading it.
      if (!req.complete) res.once('finish', () => req.destroy());
    }
  };
}
