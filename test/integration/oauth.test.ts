/**
 * OAuth 2.0 client credentials over real HTTP: clients managed by organization admins (REST), POST /oauth/token
 * (Basic or body authentication, form or JSON bodies, RFC 6749 §5.2 errors, size and rate limits), and access tokens
 * used on the API within their scopes and organization, refused at once when their client is deactivated.
 */
import http from 'node:http';
import { createTRPCClient, httpLink } from '@trpc/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppRouter } from '../../src/api/trpc/app-router.js';
import { AUTH_LIMIT } from '../../src/rate-limit.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { joinByInvitation, startTestApi, type ApiCaller, type TestApi } from '../helpers/api.js';

let db: TestDatabase;
let api: TestApi;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db);
});
afterAll(async () => {
  await api?.close();
  await db?.drop();
});

let n = 0;
async function account() {
  n++;
  const anon = await api.caller({}, `10.0.0.${n}`);
  const session = await anon.auth.register({
    username: `oauth${n}_${Date.now() % 100000}`,
    email: `o${n}_${Date.now()}@example.test`,
    password: 'correct horse battery',
  });
  const as: ApiCaller = await api.caller({ authorization: `Bearer ${session.accessToken}` }, `10.1.0.${n}`);
  return { ...session, as, email: (await as.auth.me({})).user.email };
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

// Every token request spends the per-IP 'auth' budget: each comes from its own loopback address unless told.
let ips = 0;
const freshIp = () => {
  ips++;
  return `127.1.${Math.floor(ips / 250)}.${(ips % 250) + 1}`;
};

function request(
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: string | Buffer; ip?: string } = {},
): Promise<Reply> {
  const url = new URL(api.server.url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path,
        method: init.method ?? 'GET',
        headers: init.headers,
        localAddress: init.ip ?? '127.0.0.1',
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode!, headers: res.headers, text, json });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}

const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
const form = (params: Record<string, string>) => new URLSearchParams(params).toString();
const FORM = 'application/x-www-form-urlencoded';

function tokenRequest(
  params: Record<string, string>,
  opts: { auth?: [string, string]; ip?: string; json?: boolean } = {},
): Promise<Reply> {
  const headers: Record<string, string> = { 'content-type': opts.json ? 'application/json' : FORM };
  if (opts.auth) headers.authorization = basic(...opts.auth);
  return request('/oauth/token', {
    method: 'POST',
    headers,
    body: opts.json ? JSON.stringify(params) : form(params),
    ip: opts.ip ?? freshIp(),
  });
}

const rest = (path: string, init: { method?: string; token?: string; body?: unknown } = {}) =>
  request(`/api/v1${path}`, {
    method: init.method ?? 'GET',
    headers: { 'content-type': 'application/json', ...(init.token ? { authorization: `Bearer ${init.token}` } : {}) },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });

const trigger = {
  name: 'low feedback',
  chainId: 31337,
  registry: 'reputation' as const,
  conditions: [{ condition_type: 'score_threshold', field: 'value', operator: '<', value: '50' }],
  actions: [{ action_type: 'rest' as const, config: { url: 'https://receiver.example/hook' } }],
};

interface CreatedClient {
  id: string;
  clientId: string;
  clientSecret: string;
  allowedScopes: string[];
  isActive: boolean;
  tokenEndpoint: string;
}

describe('OAuth 2.0 client credentials', () => {
  let owner: Awaited<ReturnType<typeof account>>;
  let admin: Awaited<ReturnType<typeof account>>;
  let org: string;
  let client: CreatedClient;

  beforeAll(async () => {
    owner = await account();
    admin = await account();
    org = owner.organizationId!;
    await joinByInvitation(api, owner.as, org, admin, 'admin');
  });

  it('an organization admin creates a client over REST; the secret is shown once and stored as argon2id', async () => {
    const res = await rest(`/organizations/${org}/oauth-clients`, {
      method: 'POST',
      token: admin.accessToken,
      body: { name: 'partner', description: 'nightly sync', allowedScopes: ['write', 'read'] },
    });
    expect(res.status, res.text).toBe(200);
    client = res.json as CreatedClient;
    expect(client.clientId).toMatch(/^oac_[A-Za-z0-9]{24}$/);
    expect(client.clientSecret).toMatch(/^ocs_[A-Za-z0-9]{32}$/);
    expect(client).toMatchObject({ allowedScopes: ['read', 'write'], isActive: true, tokenEndpoint: '/oauth/token' });

    const listed = await rest(`/organizations/${org}/oauth-clients`, { token: admin.accessToken });
    expect(listed.status).toBe(200);
    expect(listed.json.items).toEqual([
      expect.objectContaining({ clientId: client.clientId, name: 'partner', description: 'nightly sync' }),
    ]);
    expect(listed.text).not.toContain('ocs_');
    const { rows } = await db.pool.query('SELECT client_secret_hash FROM oauth_clients WHERE client_id = $1', [
      client.clientId,
    ]);
    expect(rows[0].client_secret_hash).toMatch(/^\$argon2id\$/);

    // Members, outsiders and anonymous callers cannot manage clients.
    const member = await account();
    await joinByInvitation(api, owner.as, org, member, 'member');
    expect(
      (
        await rest(`/organizations/${org}/oauth-clients`, {
          method: 'POST',
          token: member.accessToken,
          body: { name: 'x' },
        })
      ).status,
    ).toBe(403);
    expect((await rest(`/organizations/${org}/oauth-clients`, { token: member.accessToken })).status).toBe(403);
    expect((await rest(`/organizations/${org}/oauth-clients`)).status).toBe(401);
  });

  it('issues tokens through Basic authentication and uses them within their scopes', async () => {
    const res = await tokenRequest(
      { grant_type: 'client_credentials' },
      { auth: [client.clientId, client.clientSecret] },
    );
    expect(res.status, res.text).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['x-ratelimit-limit']).toBe(String(AUTH_LIMIT.limit));
    expect(res.json).toEqual({
      access_token: expect.stringMatching(/^oat_[A-Za-z0-9]{8}_[A-Za-z0-9]{32}$/),
      token_type: 'Bearer',
      expires_in: 3600,
      scope: 'read write',
    });
    const { rows } = await db.pool.query('SELECT token_hash, user_id FROM oauth_tokens WHERE token_prefix = $1', [
      res.json.access_token.slice(0, 12),
    ]);
    expect(rows[0]).toMatchObject({ token_hash: expect.stringMatching(/^\$argon2id\$/), user_id: null });

    const read = await tokenRequest(
      { grant_type: 'client_credentials', scope: 'read' },
      { auth: [client.clientId, client.clientSecret] },
    );
    expect(read.json.scope).toBe('read');
    const readToken = read.json.access_token as string;
    const writeToken = res.json.access_token as string;

    const list = await rest(`/organizations/${org}/triggers`, { token: readToken });
    expect(list.status, list.text).toBe(200);
    expect(list.json.items).toEqual([]);
    const refused = await rest(`/organizations/${org}/triggers`, { method: 'POST', token: readToken, body: trigger });
    expect(refused.status, refused.text).toBe(403);
    expect(refused.text).toContain("lacks the 'write' scope");
    const created = await rest(`/organizations/${org}/triggers`, { method: 'POST', token: writeToken, body: trigger });
    expect(created.status, created.text).toBe(200);
    expect(created.json.name).toBe('low feedback');

    // The same token works over tRPC; an admin-only procedure is out of its scopes.
    const trpc = createTRPCClient<AppRouter>({
      links: [httpLink({ url: `${api.server.url}/trpc`, headers: { authorization: `Bearer ${readToken}` } })],
    });
    expect((await trpc.triggers.list.query({ organizationId: org })).items.map((t) => t.id)).toEqual([created.json.id]);
    await expect(trpc.oauthClients.list.query({ organizationId: org })).rejects.toMatchObject({
      data: { code: 'FORBIDDEN' },
    });

    // A forged or unknown token of the right shape is refused.
    expect(
      (
        await rest(`/organizations/${org}/triggers`, {
          token: `${readToken.slice(0, -1)}${readToken.endsWith('A') ? 'B' : 'A'}`,
        })
      ).status,
    ).toBe(401);
    expect(
      (await rest(`/organizations/${org}/triggers`, { token: 'oat_AAAAAAAA_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' })).status,
    ).toBe(401);
  });

  it('authenticates with body parameters too, in form or JSON bodies', async () => {
    const formRes = await tokenRequest({
      grant_type: 'client_credentials',
      client_id: client.clientId,
      client_secret: client.clientSecret,
      scope: 'write',
    });
    expect(formRes.status, formRes.text).toBe(200);
    expect(formRes.json.scope).toBe('write');
    const jsonRes = await tokenRequest(
      { grant_type: 'client_credentials', client_id: client.clientId, client_secret: client.clientSecret },
      { json: true },
    );
    expect(jsonRes.status, jsonRes.text).toBe(200);
    expect(jsonRes.json.scope).toBe('read write');
  });

  it('answers RFC 6749 §5.2 errors', async () => {
    const expectError = (res: Reply, status: number, error: string) => {
      expect(res.status, res.text).toBe(status);
      expect(res.json).toEqual({ error, error_description: expect.any(String) });
      expect(res.headers['cache-control']).toBe('no-store');
    };
    const wrongSecret = await tokenRequest(
      { grant_type: 'client_credentials' },
      { auth: [client.clientId, `ocs_${'x'.repeat(32)}`] },
    );
    expectError(wrongSecret, 401, 'invalid_client');
    expect(wrongSecret.headers['www-authenticate']).toMatch(/^Basic /);
    expectError(
      await tokenRequest(
        { grant_type: 'client_credentials' },
        { auth: [`oac_${'Z'.repeat(24)}`, client.clientSecret] },
      ),
      401,
      'invalid_client',
    );
    expectError(
      await tokenRequest({ grant_type: 'client_credentials', client_id: client.clientId }),
      401,
      'invalid_client',
    );
    expectError(await tokenRequest({ grant_type: 'client_credentials' }), 401, 'invalid_client');

    expectError(
      await tokenRequest(
        { grant_type: 'password', username: 'a', password: 'b' },
        { auth: [client.clientId, client.clientSecret] },
      ),
      400,
      'unsupported_grant_type',
    );
    expectError(
      await tokenRequest(
        { grant_type: 'client_credentials', scope: 'read admin' },
        { auth: [client.clientId, client.clientSecret] },
      ),
      400,
      'invalid_scope',
    );
    expectError(
      await tokenRequest(
        { grant_type: 'client_credentials', scope: 'everything' },
        { auth: [client.clientId, client.clientSecret] },
      ),
      400,
      'invalid_scope',
    );
    // Both authentication methods at once.
    expectError(
      await tokenRequest(
        { grant_type: 'client_credentials', client_secret: client.clientSecret },
        { auth: [client.clientId, client.clientSecret] },
      ),
      400,
      'invalid_request',
    );

    // Malformed bodies.
    const post = (headers: Record<string, string>, body: string | Buffer) =>
      request('/oauth/token', {
        method: 'POST',
        headers: { authorization: basic(client.clientId, client.clientSecret), ...headers },
        body,
        ip: freshIp(),
      });
    expectError(
      await post({ 'content-type': 'application/json' }, '{"grant_type": "client_credentials"'),
      400,
      'invalid_request',
    );
    expectError(await post({ 'content-type': 'application/json' }, '["client_credentials"]'), 400, 'invalid_request');
    expectError(await post({ 'content-type': 'application/json' }, '{"grant_type": 1}'), 400, 'invalid_request');
    expectError(await post({ 'content-type': FORM }, 'scope=read'), 400, 'invalid_request');
    expectError(
      await post({ 'content-type': FORM }, 'grant_type=client_credentials&grant_type=client_credentials'),
      400,
      'invalid_request',
    );
    expectError(
      await post({ 'content-type': FORM }, 'grant_type=client_credentials&scope=%ZZ'),
      400,
      'invalid_request',
    );
    expectError(await post({ 'content-type': 'text/plain' }, 'grant_type=client_credentials'), 400, 'invalid_request');
    expectError(await post({ 'content-type': FORM }, Buffer.from([0x67, 0x72, 0xff, 0xfe])), 400, 'invalid_request');
    expectError(
      await post({ 'content-type': FORM }, `grant_type=client_credentials&pad=${'x'.repeat(17 * 1024)}`),
      413,
      'invalid_request',
    );
    expect((await request('/oauth/token')).status).toBe(405);
  });

  it('rate-limits the token endpoint per client IP (auth scope)', async () => {
    const ip = freshIp();
    const statuses: number[] = [];
    let last: Reply | undefined;
    for (let i = 0; i <= AUTH_LIMIT.limit; i++) {
      last = await tokenRequest({ grant_type: 'client_credentials' }, { auth: [client.clientId, 'wrong'], ip });
      statuses.push(last.status);
    }
    expect(statuses).toEqual([...Array(AUTH_LIMIT.limit).fill(401), 429]);
    expect(Number(last!.headers['retry-after'])).toBeGreaterThan(0);
    expect(last!.json.error).toBe('too_many_requests');
    // Another address is not affected.
    expect(
      (await tokenRequest({ grant_type: 'client_credentials' }, { auth: [client.clientId, client.clientSecret] }))
        .status,
    ).toBe(200);
  });

  it("a token of one organization cannot touch another's resources", async () => {
    const other = await account();
    const otherOrg = other.organizationId!;
    await other.as.triggers.create({ organizationId: otherOrg, ...trigger });
    const token = (
      await tokenRequest({ grant_type: 'client_credentials' }, { auth: [client.clientId, client.clientSecret] })
    ).json.access_token as string;
    expect((await rest(`/organizations/${otherOrg}/triggers`, { token })).status).toBe(403);
    expect((await rest(`/organizations/${otherOrg}/triggers`, { method: 'POST', token, body: trigger })).status).toBe(
      403,
    );
    // Nor manage another organization's clients, even as an admin of its own.
    const theirs = (
      await other.as.oauthClients.create({ organizationId: otherOrg, name: 'theirs', allowedScopes: ['read'] })
    ).clientId;
    expect(
      (
        await rest(`/organizations/${org}/oauth-clients/${theirs}/deactivate`, {
          method: 'POST',
          token: admin.accessToken,
          body: {},
        })
      ).status,
    ).toBe(404);
    expect(
      (
        await rest(`/organizations/${otherOrg}/oauth-clients/${theirs}/deactivate`, {
          method: 'POST',
          token: admin.accessToken,
          body: {},
        })
      ).status,
    ).toBe(403);
    expect((await other.as.oauthClients.list({ organizationId: otherOrg })).items[0]).toMatchObject({
      clientId: theirs,
      isActive: true,
    });
  });

  it('an expired token is refused', async () => {
    const token = (
      await tokenRequest(
        { grant_type: 'client_credentials', scope: 'read' },
        { auth: [client.clientId, client.clientSecret] },
      )
    ).json.access_token as string;
    await db.pool.query(`UPDATE oauth_tokens SET expires_at = now() - interval '1 second' WHERE token_prefix = $1`, [
      token.slice(0, 12),
    ]);
    expect((await rest(`/organizations/${org}/triggers`, { token })).status).toBe(401);
  });

  it('deactivating a client refuses its existing tokens at once and issues no new ones', async () => {
    const token = (
      await tokenRequest({ grant_type: 'client_credentials' }, { auth: [client.clientId, client.clientSecret] })
    ).json.access_token as string;
    // Used once: the verification is now cached.
    expect((await rest(`/organizations/${org}/triggers`, { token })).status).toBe(200);
    expect(api.services.oauthTokens!.size).toBeGreaterThan(0);

    const res = await rest(`/organizations/${org}/oauth-clients/${client.clientId}/deactivate`, {
      method: 'POST',
      token: admin.accessToken,
      body: {},
    });
    expect(res.status, res.text).toBe(200);
    expect(res.json).toMatchObject({ deactivated: true, client: { clientId: client.clientId, isActive: false } });
    expect(res.json.revokedTokens).toBeGreaterThanOrEqual(1);

    const after = await rest(`/organizations/${org}/triggers`, { token });
    expect(after.status, after.text).toBe(401);
    const again = await tokenRequest(
      { grant_type: 'client_credentials' },
      { auth: [client.clientId, client.clientSecret] },
    );
    expect(again.status).toBe(401);
    expect(again.json.error).toBe('invalid_client');
    const { rows } = await db.pool.query(
      'SELECT count(*)::int AS live FROM oauth_tokens t JOIN oauth_clients c ON c.id = t.client_id WHERE c.client_id = $1 AND t.revoked_at IS NULL',
      [client.clientId],
    );
    expect(rows[0].live).toBe(0);
    // Idempotent; unknown ids are 404.
    expect(
      (
        await rest(`/organizations/${org}/oauth-clients/${client.id}/deactivate`, {
          method: 'POST',
          token: admin.accessToken,
          body: {},
        })
      ).json.revokedTokens,
    ).toBe(0);
    expect(
      (
        await rest(`/organizations/${org}/oauth-clients/oac_${'Q'.repeat(24)}/deactivate`, {
          method: 'POST',
          token: admin.accessToken,
          body: {},
        })
      ).status,
    ).toBe(404);
  });

  it('revocation reaches other processes through the oauth_token_changed notification', async () => {
    const created = await owner.as.oauthClients.create({
      organizationId: org,
      name: 'second',
      allowedScopes: ['read'],
    });
    const token = (
      await tokenRequest({ grant_type: 'client_credentials' }, { auth: [created.clientId, created.clientSecret] })
    ).json.access_token as string;
    expect((await rest(`/organizations/${org}/triggers`, { token })).status).toBe(200);
    const cache = api.services.oauthTokens!;
    expect(cache.get(token)).toBeDefined();
    // Deactivated behind the API's back (as another process would): only the notification clears this cache.
    const { deactivateOAuthClient } = await import('../../src/auth/oauth.js');
    await deactivateOAuthClient(db.pool, { organizationId: org, clientId: created.clientId });
    await expect.poll(() => cache.get(token), { timeout: 5_000 }).toBeUndefined();
    expect((await rest(`/organizations/${org}/triggers`, { token })).status).toBe(401);
  });

  it('the management procedures are in the OpenAPI document', async () => {
    const doc = (await request('/api/v1/openapi.json')).json as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/organizations/{organizationId}/oauth-clients',
        '/organizations/{organizationId}/oauth-clients/{clientId}/deactivate',
      ]),
    );
  });
});
