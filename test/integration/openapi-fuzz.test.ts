/**
 * A schema-driven fuzz pass over the served OpenAPI document, against a real API server: requests generated from each
 * operation's parameter and body schemas (mostly valid, some mutated), signed in as a user of an organization so that
 * they reach the handlers. Every answer must be below 500, documented for its operation, and valid against the
 * documented schema for its status; a request the document allows must not be refused by input validation (domain rules
 * beyond JSON Schema, such as a trigger definition's conditions, may refuse it with 400; their operations describe them).
 * The operation list comes from the document, so new procedures are fuzzed without touching this file.
 * The seed is fixed (the pass replays identically); the budget is a few hundred requests.
 */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SchemaArbitraries, type JsonSchema } from '../helpers/json-schema-arbitrary.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { stripeMockEnv } from '../helpers/stripe-env.js';

const SEED = 8004;
const RUNS_PER_OPERATION = 12;

type Parameter = { name: string; in: 'path' | 'query' | 'header'; required?: boolean; schema: JsonSchema };
type Operation = {
  operationId: string;
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema: JsonSchema }> };
  responses: Record<string, { content?: Record<string, { schema: JsonSchema }> }>;
};
type Document = {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, JsonSchema> };
};
type GeneratedRequest = {
  path: Record<string, unknown>;
  query: Record<string, unknown>;
  body: unknown;
  auth: 'user' | 'none' | 'garbage';
  positive: boolean;
};

let db: TestDatabase;
let api: TestApi;
let token: string;
let organizationId: string;
let document: Document;

beforeAll(async () => {
  db = await createTestDatabase();
  // With a worker, as in production: deleting a trigger (or an organization with triggers) waits for its workflow.
  // Billing configured (stripe-mock), so that the billing operations reach their handlers rather than answer 503.
  api = await startTestApi(db, { withWorker: true, env: stripeMockEnv() });
  const session = await (
    await api.caller({}, '10.9.0.1')
  ).auth.register({ username: 'openapi-fuzz', email: 'openapi-fuzz@example.test', password: 'correct horse battery' });
  token = session.accessToken;
  organizationId = session.organizationId!;
  // The largest plan: the pass should reach the handlers rather than spend itself on 429s (which are checked too).
  await db.pool.query(`UPDATE organizations SET plan = 'enterprise' WHERE id = $1`, [organizationId]);
  document = (await (await fetch(`${api.server.url}/api/v1/openapi.json`)).json()) as Document;
});
afterAll(async () => {
  await api?.close();
  await db?.drop();
});

/** Validates against a schema inside the document, by JSON pointer (so that its $refs resolve). */
function documentValidator(doc: Document): (pointer: string[]) => ValidateFunction {
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
  (addFormatsModule as unknown as (a: Ajv2020) => void)(ajv);
  ajv.addSchema(doc as object, 'openapi');
  const cache = new Map<string, ValidateFunction>();
  return (pointer) => {
    const ref =
      'openapi#/' + pointer.map((p) => encodeURIComponent(p.replace(/~/g, '~0').replace(/\//g, '~1'))).join('/');
    let validate = cache.get(ref);
    if (!validate) cache.set(ref, (validate = ajv.compile({ $ref: ref })));
    return validate;
  };
}

function operations(doc: Document): { method: string; path: string; op: Operation }[] {
  const list = Object.entries(doc.paths).flatMap(([path, ops]) =>
    Object.entries(ops).map(([method, op]) => ({ method, path, op })),
  );
  // Destructive calls last, so they do not pull the organization from under the rest of the pass.
  const destructive = (o: { method: string; path: string }) =>
    o.method === 'delete' || /\/(transfer|logout)$/.test(o.path);
  return [...list.filter((o) => !destructive(o)), ...list.filter(destructive)];
}

function requestArbitrary(schemas: SchemaArbitraries, op: Operation): fc.Arbitrary<GeneratedRequest> {
  const parameters = op.parameters ?? [];
  const values = (where: 'path' | 'query', positive: boolean) => {
    const record: Record<string, fc.Arbitrary<unknown>> = {};
    for (const p of parameters.filter((x) => x.in === where)) {
      const valid =
        p.name === 'organizationId'
          ? fc.oneof(
              { weight: 9, arbitrary: fc.constant(organizationId) },
              { weight: 1, arbitrary: schemas.valid(p.schema) },
            )
          : schemas.valid(p.schema);
      record[p.name] = positive
        ? valid
        : fc.oneof(
            valid,
            schemas.mutated(p.schema).filter((v) => v !== undefined && typeof v !== 'object'),
          );
    }
    const required = parameters.filter((x) => x.in === where && (x.required || where === 'path')).map((x) => x.name);
    return fc.record(record, { requiredKeys: required });
  };
  const bodySchema = op.requestBody?.content['application/json']?.schema;
  const auth = fc.constantFrom<GeneratedRequest['auth']>(
    'user',
    'user',
    'user',
    'user',
    'user',
    'user',
    'none',
    'garbage',
  );
  const positive = fc.record({
    path: values('path', true),
    query: values('query', true),
    body: bodySchema ? schemas.valid(bodySchema) : fc.constant(undefined),
    auth,
    positive: fc.constant(true),
  });
  const negative = fc.record({
    path: values('path', false),
    query: values('query', false),
    body: bodySchema ? schemas.mutated(bodySchema) : fc.constant(undefined),
    auth,
    positive: fc.constant(false),
  });
  return fc.oneof({ weight: 3, arbitrary: positive }, { weight: 1, arbitrary: negative });
}

function buildUrl(path: string, request: GeneratedRequest): string {
  const filled = path.replace(/\{(\w+)\}/g, (_m, name: string) => encodeURIComponent(String(request.path[name])));
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(request.query)) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value])
      query.append(name, typeof item === 'object' ? JSON.stringify(item) : String(item));
  }
  const qs = query.toString();
  return `${api.server.url}/api/v1${filled}${qs ? `?${qs}` : ''}`;
}

describe('OpenAPI document against the API it describes', () => {
  it(
    'a fuzz pass over every operation: no 5xx, every answer documented and valid, no schema-valid request refused by validation',
    { timeout: 180_000 },
    async () => {
      const validator = documentValidator(document);
      const schemas = new SchemaArbitraries(document);
      const ops = operations(document);
      expect(ops.length).toBeGreaterThan(30);
      const violations: string[] = [];
      const statuses = new Map<number, number>();
      let sent = 0;
      for (const { method, path, op } of ops) {
        const samples = fc.sample(requestArbitrary(schemas, op), { numRuns: RUNS_PER_OPERATION, seed: SEED });
        for (const request of samples) {
          // A request is positive only if the document itself accepts every part of it.
          const pathParams = (op.parameters ?? []).map((p, i) => ({ p, i }));
          const partsValid =
            pathParams.every(({ p, i }) => {
              const value =
                p.in === 'path' ? request.path[p.name] : p.in === 'query' ? request.query[p.name] : undefined;
              return value === undefined
                ? !(p.required || p.in === 'path')
                : validator(['paths', path, method, 'parameters', String(i), 'schema'])(value);
            }) &&
            (op.requestBody
              ? request.body === undefined
                ? !op.requestBody.required
                : validator(['paths', path, method, 'requestBody', 'content', 'application/json', 'schema'])(
                    request.body,
                  )
              : true);
          const positive = request.positive && partsValid;
          const headers: Record<string, string> = {};
          if (request.auth === 'user') headers.authorization = `Bearer ${token}`;
          if (request.auth === 'garbage') headers.authorization = 'Bearer not-a-token';
          if (op.requestBody) headers['content-type'] = 'application/json';
          const res = await fetch(buildUrl(path, request), {
            method: method.toUpperCase(),
            headers,
            body: op.requestBody && request.body !== undefined ? JSON.stringify(request.body) : undefined,
          });
          const text = await res.text();
          sent++;
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          const where = `${method.toUpperCase()} ${path} ${JSON.stringify({ ...request, body: request.body })}`.slice(
            0,
            600,
          );
          if (res.status >= 500) {
            violations.push(`${where} → ${res.status} ${text.slice(0, 300)}`);
            continue;
          }
          const documented = op.responses[String(res.status)];
          if (!documented) {
            violations.push(`${where} → ${res.status} is not documented for ${op.operationId}: ${text.slice(0, 300)}`);
            continue;
          }
          const content = documented.content?.['application/json'];
          let body: unknown;
          if (content) {
            try {
              body = JSON.parse(text);
            } catch {
              violations.push(`${where} → ${res.status} is not JSON: ${text.slice(0, 200)}`);
              continue;
            }
            const validate = validator([
              'paths',
              path,
              method,
              'responses',
              String(res.status),
              'content',
              'application/json',
              'schema',
            ]);
            if (!validate(body))
              violations.push(
                `${where} → ${res.status} violates its schema: ${JSON.stringify(validate.errors).slice(0, 400)} in ${text.slice(0, 300)}`,
              );
          }
          // Refused by validation (zod `issues`, or a value the database refused) although the document allows it: a constraint
          // missing from the document. Domain rules (a trigger definition's conditions, a backtest's range) answer 400 with
          // `data.issues` or a message and are described by their operation.
          const refusedByValidation =
            res.status === 400 &&
            (Array.isArray((body as { issues?: unknown })?.issues) ||
              (body as { message?: unknown })?.message === 'invalid value');
          if (positive && refusedByValidation)
            violations.push(`${where} → schema-valid request refused by validation: ${text.slice(0, 400)}`);
        }
      }
      expect(violations).toEqual([]);
      // The pass reached the handlers: most answers are not authentication or rate-limit refusals.
      const reached = [...statuses].filter(([s]) => s !== 401 && s !== 429).reduce((n, [, c]) => n + c, 0);
      expect(reached / sent).toBeGreaterThan(0.5);
      expect(statuses.get(200) ?? 0).toBeGreaterThan(ops.length);
    },
  );

  it('agrees with the API on the cases a black-box run found', async () => {
    const validator = documentValidator(document);
    // A user of its own: the fuzz pass may have deleted or transferred the first one's organization.
    const session = await (
      await api.caller({}, '10.9.0.2')
    ).auth.register({
      username: 'openapi-cases',
      email: 'openapi-cases@example.test',
      password: 'correct horse battery',
    });
    const token = session.accessToken;
    const organizationId = session.organizationId!;
    const send = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${api.server.url}/api/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as unknown };
    };
    const documented = (path: string, method: string, status: number, body: unknown) =>
      validator(['paths', path, method, 'responses', String(status), 'content', 'application/json', 'schema'])(body);

    // An input validation error carries zod issues (code, path, origin, …): the documented 400 body allows them.
    const invalid = await send('POST', `/organizations/${organizationId}/triggers`, {
      name: '',
      chainId: 'one',
      registry: 'staking',
      conditions: 'none',
    });
    expect(invalid.status).toBe(400);
    expect((invalid.body as { issues: { origin?: string }[] }).issues.some((i) => i.origin !== undefined)).toBe(true);
    expect(documented('/organizations/{organizationId}/triggers', 'post', 400, invalid.body)).toBe(true);

    // A trigger with no conditions is schema-valid, and accepted.
    const empty = { name: 'no conditions', chainId: null, registry: 'reputation', conditions: [] };
    expect(
      validator([
        'paths',
        '/organizations/{organizationId}/triggers',
        'post',
        'requestBody',
        'content',
        'application/json',
        'schema',
      ])(empty),
    ).toBe(true);
    const created = await send('POST', `/organizations/${organizationId}/triggers`, empty);
    expect(created.status).toBe(200);
    expect(documented('/organizations/{organizationId}/triggers', 'post', 200, created.body)).toBe(true);

    // The test call needs an event as well as the trigger: the document says so, and the API answers accordingly.
    const testBody = validator([
      'paths',
      '/organizations/{organizationId}/triggers/test',
      'post',
      'requestBody',
      'content',
      'application/json',
      'schema',
    ]);
    const triggerId = (created.body as { id: string }).id;
    expect(testBody({ triggerId })).toBe(false);
    expect((await send('POST', `/organizations/${organizationId}/triggers/test`, { triggerId })).status).toBe(400);
    const withEvent = {
      triggerId,
      event: { chain_id: 1, timestamp: 1_700_000_000, registry: 'reputation', event_type: 'NewFeedback' },
    };
    expect(testBody(withEvent)).toBe(true);
    const tested = await send('POST', `/organizations/${organizationId}/triggers/test`, withEvent);
    expect(tested.status).toBe(200);
    expect(documented('/organizations/{organizationId}/triggers/test', 'post', 200, tested.body)).toBe(true);

    // Rate limits and body limits are documented wherever they apply, with the headers a client needs.
    for (const [path, operations] of Object.entries(document.paths)) {
      for (const [method, op] of Object.entries(operations)) {
        expect(op.responses['429'], `${method} ${path}`).toBeDefined();
        expect(
          (op.responses['429'] as { headers?: Record<string, unknown> }).headers?.['Retry-After'],
          `${method} ${path}`,
        ).toBeDefined();
        if (['post', 'put', 'patch'].includes(method)) {
          expect(op.responses['413'], `${method} ${path}`).toBeDefined();
          expect(op.responses['415'], `${method} ${path}`).toBeDefined();
        }
      }
    }
  });
});
