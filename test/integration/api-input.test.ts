/**
 * Bad input on every procedure: malformed, wrongly typed, oversized — always a 4xx with a message, never a 500, and
 * nothing written. Also: two API processes share the rate limit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appRouter } from '../../src/api/trpc/app-router.js';
import { MAX_BODY_BYTES } from '../../src/api/trpc/handlers.js';
import { createTestDatabase, databaseFingerprint, type TestDatabase } from '../helpers/db.js';
import { startTestApi, type TestApi } from '../helpers/api.js';

let db: TestDatabase;
let api: TestApi;
let token: string;
let organizationId: string;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db);
  const session = await (
    await api.caller({}, '10.7.0.1')
  ).auth.register({ username: 'fuzz', email: 'fuzz@example.test', password: 'correct horse battery' });
  token = session.accessToken;
  organizationId = session.organizationId!;
  await db.pool.query(`UPDATE organizations SET plan = 'enterprise' WHERE id = $1`, [organizationId]);
});
afterAll(async () => {
  await api?.close();
  await db?.drop();
});

/** Every procedure of the router, as "path" → "query" | "mutation". */
function procedures(): [string, 'query' | 'mutation'][] {
  const out: [string, 'query' | 'mutation'][] = [];
  for (const [path, proc] of Object.entries(appRouter._def.procedures)) {
    out.push([path, (proc as unknown as { _def: { type: 'query' | 'mutation' } })._def.type]);
  }
  return out.sort();
}

/** The procedures whose input is all optional, known by name: a required field that became optional shows here. */
const OPTIONAL_INPUT = ['auth.me', 'auth.resendVerification', 'auth.siweNonce', 'events.search', 'queries.tools'];

/** Procedures whose every input parser accepts `{}` (me, siweNonce, events.search…): they may serve an unrelated object. */
function allOptional(path: string): boolean {
  const inputs = (
    appRouter._def.procedures as unknown as Record<
      string,
      { _def: { inputs: { safeParse(v: unknown): { success: boolean } }[] } }
    >
  )[path]!._def.inputs;
  return inputs.every((input) => input.safeParse({}).success);
}

const badInputs = (): [string, unknown][] => [
  ['a string', 'hello'],
  ['a number', 42],
  ['null', null],
  ['an array', [1, 2, 3]],
  ['wrong types', { organizationId: 123, triggerId: false, limit: 'many', name: { nested: true }, conditions: 'none' }],
  ['a foreign-looking id', { organizationId: '00000000-0000-0000-0000-000000000000' }],
  [
    'oversized strings',
    {
      organizationId: 'o'.repeat(100_000),
      name: 'x'.repeat(300_000),
      email: `${'a'.repeat(500)}@x.test`,
      message: 'm'.repeat(20_000),
    },
  ],
];

describe('malformed input on every procedure', () => {
  it(
    'answers 4xx with a message (or ignores unknown fields), never 500, and writes nothing',
    { timeout: 120_000 },
    async () => {
      const list = procedures();
      expect(list.length).toBeGreaterThan(25);
      const optional = list.filter(([path]) => allOptional(path));
      expect(optional.map(([path]) => path)).toEqual(OPTIONAL_INPUT);
      const failures: string[] = [];
      const served: string[] = [];
      const probe = async (path: string, type: 'query' | 'mutation') => {
        for (const [label, input] of badInputs()) {
          const encoded = encodeURIComponent(JSON.stringify(input));
          const res =
            type === 'query'
              ? await fetch(`${api.server.url}/trpc/${path}?input=${encoded}`, {
                  headers: { authorization: `Bearer ${token}` },
                })
              : await fetch(`${api.server.url}/trpc/${path}`, {
                  method: 'POST',
                  headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
                  body: JSON.stringify(input),
                });
          const text = await res.text();
          let message: string | undefined;
          try {
            message = (JSON.parse(text) as { error?: { message?: string } }).error?.message;
          } catch {
            message = undefined;
          }
          // Node itself answers oversized requests (413, 431 for a huge query string) before any procedure runs.
          const refusedByServer = res.status === 413 || res.status === 431;
          if (res.status >= 500 || (res.status >= 400 && !refusedByServer && !message))
            failures.push(`${path} with ${label}: ${res.status} ${text.slice(0, 200)}`);
          if (res.status < 400 && !allOptional(path)) served.push(`${path} with ${label}: ${res.status}`);
        }
      };
      // Every table, except the rate-limit counters that every request moves.
      const everyTable = () => databaseFingerprint(db.pool, { tables: ['rate_limit_counters'] });
      const before = await everyTable();
      for (const [path, type] of list) if (!allOptional(path)) await probe(path, type);
      // Every procedure that requires something refuses every bad input, and nothing was written anywhere.
      expect(served).toEqual([]);
      expect(await everyTable()).toEqual(before);
      // The all-optional ones may serve an unrelated object (and siweNonce stores its nonce): never a 500 though.
      for (const [path, type] of optional) await probe(path, type);
      expect(failures).toEqual([]);
    },
  );

  it('reports the field that is wrong', async () => {
    const res = await fetch(`${api.server.url}/api/v1/organizations/${organizationId}/triggers`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x', chainId: 1, registry: 'staking', conditions: [] }),
    });
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toContain('registry');
  });

  it('refuses a body larger than the limit with 413', async () => {
    const res = await fetch(`${api.server.url}/trpc/triggers.create`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        organizationId,
        name: 'n'.repeat(2 * 1024 * 1024),
        chainId: 1,
        registry: 'reputation',
        conditions: [],
      }),
    });
    expect(res.status).toBe(413);
  });
});

/** Every operation of the served OpenAPI document that takes a request body, with its path filled in. */
async function bodyOperations(): Promise<{ method: string; path: string; url: string }[]> {
  const document = (await (await fetch(`${api.server.url}/api/v1/openapi.json`)).json()) as {
    paths: Record<string, Record<string, unknown>>;
  };
  const out: { method: string; path: string; url: string }[] = [];
  for (const [path, operations] of Object.entries(document.paths)) {
    for (const method of Object.keys(operations)) {
      if (!['post', 'put', 'patch'].includes(method)) continue;
      const filled = path.replace(/\{(\w+)\}/g, (_m, name: string) =>
        name === 'organizationId' ? organizationId : '00000000-0000-4000-8000-000000000000',
      );
      out.push({ method: method.toUpperCase(), path, url: `${api.server.url}/api/v1${filled}` });
    }
  }
  return out;
}

/** A malformed request body, as a schema-driven fuzzer sends them, and the status it must get. */
const malformedBodies: { label: string; contentType: string; body: () => string; status: number; message: RegExp }[] = [
  { label: 'a NUL byte', contentType: 'application/json', body: () => '\x00', status: 400, message: /JSON/ },
  {
    label: 'truncated JSON',
    contentType: 'application/json; charset=utf-8',
    body: () => '{"name": ',
    status: 400,
    message: /JSON/,
  },
  {
    label: 'JSON sent as text/plain',
    contentType: 'text/plain',
    body: () => '{}',
    status: 415,
    message: /application\/json/,
  },
  {
    label: 'a form',
    contentType: 'application/x-www-form-urlencoded',
    body: () => 'name=x',
    status: 415,
    message: /application\/json/,
  },
  {
    label: 'an oversized body',
    contentType: 'application/json',
    body: () => JSON.stringify({ name: 'n'.repeat(MAX_BODY_BYTES) }),
    status: 413,
    message: new RegExp(String(MAX_BODY_BYTES)),
  },
];

describe('malformed request bodies on every route', () => {
  const counts = async () =>
    (
      await db.pool.query(
        `SELECT (SELECT count(*) FROM triggers)::int AS t, (SELECT count(*) FROM api_keys)::int AS k, (SELECT count(*) FROM users)::int AS u,
            (SELECT count(*) FROM organizations)::int AS o, (SELECT count(*) FROM oauth_clients)::int AS c`,
      )
    ).rows[0];

  it(
    'REST: every POST/PUT/PATCH of the OpenAPI document answers 400/415/413 with a message in its documented error shape',
    { timeout: 120_000 },
    async () => {
      const operations = await bodyOperations();
      expect(operations.length).toBeGreaterThan(15);
      const before = await counts();
      const failures: string[] = [];
      for (const op of operations) {
        for (const bad of malformedBodies) {
          const res = await fetch(op.url, {
            method: op.method,
            headers: { authorization: `Bearer ${token}`, 'content-type': bad.contentType },
            body: bad.body(),
          });
          const text = await res.text();
          let body: { message?: unknown; code?: unknown } = {};
          try {
            body = JSON.parse(text) as typeof body;
          } catch {
            // reported below
          }
          if (
            res.status !== bad.status ||
            typeof body.message !== 'string' ||
            !bad.message.test(body.message) ||
            typeof body.code !== 'string'
          ) {
            failures.push(`${op.method} ${op.path} with ${bad.label}: ${res.status} ${text.slice(0, 200)}`);
          }
        }
      }
      expect(failures).toEqual([]);
      expect(await counts()).toEqual(before);
    },
  );

  it('tRPC: every mutation answers 400/415/413 with a message', { timeout: 120_000 }, async () => {
    const mutations = procedures()
      .filter(([, type]) => type === 'mutation')
      .map(([path]) => path);
    expect(mutations.length).toBeGreaterThan(15);
    const before = await counts();
    const failures: string[] = [];
    for (const path of mutations) {
      for (const bad of malformedBodies) {
        const res = await fetch(`${api.server.url}/trpc/${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': bad.contentType },
          body: bad.body(),
        });
        const text = await res.text();
        let message: unknown;
        try {
          message = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message;
        } catch {
          message = undefined;
        }
        if (res.status !== bad.status || typeof message !== 'string' || !bad.message.test(message))
          failures.push(`${path} with ${bad.label}: ${res.status} ${text.slice(0, 200)}`);
      }
    }
    expect(failures).toEqual([]);
    expect(await counts()).toEqual(before);
  });

  it('tRPC: a query whose input parameter is not JSON answers 400', async () => {
    const res = await fetch(`${api.server.url}/trpc/triggers.list?input=%7B`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/JSON/);
  });

  it('a NUL character in any text answers 400 and writes nothing (Postgres text cannot hold it)', async () => {
    const before = await counts();
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const base = `${api.server.url}/api/v1/organizations/${organizationId}`;
    const answers = [
      await fetch(`${base}/triggers`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ name: 'a\u0000b', chainId: null, registry: 'reputation', conditions: [] }),
      }),
      await fetch(`${base}/api-keys`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ name: 'a\u0000b', permissions: ['read'] }),
      }),
      await fetch(`${base}/oauth-clients`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ name: 'a\u0000b', allowedScopes: ['read'] }),
      }),
      await fetch(`${base}/deliveries/replay`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ idempotencyKey: 'a\u0000b' }),
      }),
      await fetch(base, { method: 'PATCH', headers, body: JSON.stringify({ name: 'a\u0000b' }) }),
      await fetch(`${api.server.url}/trpc/organizations.rename`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ organizationId, name: 'a\u0000b' }),
      }),
      await fetch(
        `${api.server.url}/trpc/triggers.list?input=${encodeURIComponent(JSON.stringify({ organizationId, name: 'a\u0000b' }))}`,
        { headers },
      ),
      await fetch(`${base}/deliveries?status=dead&since=%00`, { headers }),
    ];
    for (const res of answers) {
      expect(res.status, res.url).toBe(400);
      expect(JSON.stringify(await res.json())).toMatch(/NUL/);
    }
    expect(await counts()).toEqual(before);
  });

  it('an empty body is no input: a POST whose input is all in its path is served', async () => {
    for (const headers of [{ 'content-type': 'application/json' }, {}] as Record<string, string>[]) {
      const key = await (
        await api.caller({ authorization: `Bearer ${token}` })
      ).apiKeys.create({ organizationId, name: 'to rotate', permissions: ['read'] });
      const res = await fetch(`${api.server.url}/api/v1/organizations/${organizationId}/api-keys/${key.id}/rotate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, ...headers },
      });
      expect(res.status).toBe(200);
    }
  });
});

describe('rate limits across API processes', () => {
  it('two API servers on one database share one limit', async () => {
    const second = await startTestApi(db);
    try {
      const key = await (
        await api.caller({ authorization: `Bearer ${token}` })
      ).apiKeys.create({ organizationId, name: 'shared', permissions: ['read'], rateLimitOverride: 6 });
      const statuses: number[] = [];
      for (let i = 0; i < 10; i++) {
        const server = i % 2 === 0 ? api.server : second.server;
        const res = await fetch(`${server.url}/api/v1/organizations/${organizationId}/triggers`, {
          headers: { 'x-api-key': key.key },
        });
        statuses.push(res.status);
      }
      expect(statuses.filter((s) => s === 200)).toHaveLength(6);
      expect(statuses.slice(6)).toEqual([429, 429, 429, 429]);
    } finally {
      await second.close();
    }
  });
});
