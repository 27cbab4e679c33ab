/**
 * A destination the SSRF guard would refuse is refused when the trigger is saved (400 with the reason and how to allow
 * it), through the REST API, and nothing is written; the send-time check stays (test/integration/actions.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

let db: TestDatabase;
let strict: TestApi;
let allowing: TestApi;

beforeAll(async () => {
  db = await createTestDatabase();
  // No allow list, as in production; and one that lets local receivers through, as ACTION_ALLOWED_HOSTS does.
  [strict, allowing] = await Promise.all([
    startTestApi(db, { allowedHosts: '', withWorker: true }),
    startTestApi(db, { allowedHosts: '127.0.0.1' }),
  ]);
});

afterAll(async () => {
  await Promise.all([strict?.close(), allowing?.close()]);
  await db?.drop();
});

async function signUp(api: TestApi, name: string) {
  const session = await (
    await api.caller({}, '10.9.0.1')
  ).auth.register({
    username: `${name}_${Date.now() % 100000}`,
    email: `${name}_${Date.now()}@example.test`,
    password: 'correct horse battery',
  });
  return { organizationId: session.organizationId!, authorization: `Bearer ${session.accessToken}` };
}

const rest = (api: TestApi, authorization: string, method: string, path: string, body?: unknown) =>
  fetch(`${api.server.url}/api/v1${path}`, {
    method,
    headers: { 'content-type': 'application/json', authorization },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

const triggerWith = (actions: unknown[]) => ({
  name: 'destinations',
  chainId: 31337,
  registry: 'reputation',
  conditions: [{ condition_type: 'score_threshold', field: 'value', operator: '<', value: '50' }],
  actions,
});

const triggerCount = async (organizationId: string) =>
  (await db.pool.query('SELECT count(*)::int AS n FROM triggers WHERE organization_id = $1', [organizationId])).rows[0]
    .n as number;

describe('action destinations are checked when a trigger is saved', () => {
  it('refuses a loopback REST URL and an MCP endpoint resolving to loopback with 400, the reason and ACTION_ALLOWED_HOSTS; writes nothing', async () => {
    const me = await signUp(strict, 'dest');
    const res = await rest(
      strict,
      me.authorization,
      'POST',
      `/organizations/${me.organizationId}/triggers`,
      triggerWith([
        { action_type: 'rest', config: { url: 'http://127.0.0.1:9099/hook' } },
        { action_type: 'mcp', config: { endpoint: 'http://localhost:9099/mcp', tool_name: 'agent.receiveFeedback' } },
        { action_type: 'rest', config: { url: 'http://169.254.169.254/latest/meta-data/' } },
      ]),
    );
    expect(res.status).toBe(400);
    const { message } = (await res.json()) as { message: string };
    expect(message).toMatch(
      /actions\.0\.config\.url: refused http:\/\/127\.0\.0\.1:9099: 127\.0\.0\.1 is .*loopback.*ACTION_ALLOWED_HOSTS/,
    );
    expect(message).toMatch(
      /actions\.1\.config\.endpoint: refused http:\/\/localhost:9099: localhost resolves to .*ACTION_ALLOWED_HOSTS/,
    );
    expect(message).toMatch(/actions\.2\.config\.url: refused http:\/\/169\.254\.169\.254/);
    expect(await triggerCount(me.organizationId)).toBe(0);
  });

  it('an update pointing an action at a refused address is refused and leaves the trigger as it was', async () => {
    const me = await signUp(strict, 'upd');
    // A host that does not resolve (yet) is not a refusal: the send decides then.
    const created = await rest(
      strict,
      me.authorization,
      'POST',
      `/organizations/${me.organizationId}/triggers`,
      triggerWith([{ action_type: 'rest', config: { url: 'https://receiver.example/hook' } }]),
    );
    expect(created.status).toBe(200);
    const { id } = (await created.json()) as { id: string };
    const update = await rest(
      strict,
      me.authorization,
      'PUT',
      `/organizations/${me.organizationId}/triggers/${id}`,
      triggerWith([
        { action_type: 'rest', config: { url: 'https://receiver.example/hook' } },
        { action_type: 'mcp', config: { endpoint: 'http://10.0.0.7/mcp', tool_name: 'agent.receiveFeedback' } },
      ]),
    );
    expect(update.status).toBe(400);
    expect(((await update.json()) as { message: string }).message).toMatch(
      /actions\.1\.config\.endpoint: refused http:\/\/10\.0\.0\.7: 10\.0\.0\.7 is a private address.*ACTION_ALLOWED_HOSTS/,
    );
    const stored = await db.pool.query(
      `SELECT action_type, config->>'url' AS url FROM trigger_actions WHERE trigger_id = $1`,
      [id],
    );
    expect(stored.rows).toEqual([{ action_type: 'rest', url: 'https://receiver.example/hook' }]);
  });

  it('accepts what ACTION_ALLOWED_HOSTS allows', async () => {
    const me = await signUp(allowing, 'allowed');
    const res = await rest(
      allowing,
      me.authorization,
      'POST',
      `/organizations/${me.organizationId}/triggers`,
      triggerWith([{ action_type: 'rest', config: { url: 'http://127.0.0.1:9099/hook' } }]),
    );
    expect(res.status).toBe(200);
    expect(await triggerCount(me.organizationId)).toBe(1);
  });
});
