/**
 * SSRF protection on every outgoing surface of action delivery, not only REST URLs with IP literals: MCP endpoints,
 * endpoints taken from registration files (resolve_endpoint), the registration-file and IPFS fetches themselves, the
 * feedback-file fetch (verify_file_hash), and a host NAME that resolves to a private address (`localhost`, which the
 * system resolver answers from /etc/hosts, offline).
 *
 * The worker runs with an empty allow list, so the local receiver below counts as the private address it is. Each
 * delivery is awaited until it is dead (the attempt was made and refused); only then is the receiver's silence checked.
 */
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllowList } from '../../src/actions/safe-http.js';
import { Relay } from '../../src/relay/relay.js';
import { TriggerDispatcher } from '../../src/relay/trigger-dispatcher.js';
import { TriggerService } from '../../src/triggers/service.js';
import { testActionSettings } from '../helpers/actions.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { appendEvents, feedbackRecord, insertOrganization, insertUser } from '../helpers/fixtures.js';
import { testLogger } from '../helpers/logger.js';
import { startWebhookReceiver, type WebhookReceiver } from '../helpers/receivers.js';
import { startTestTemporal, type TestTemporal } from '../helpers/temporal.js';
import { eventually } from '../helpers/wait.js';

let db: TestDatabase;
let temporal: TestTemporal;
let client: Client;
let service: TriggerService;
let relay: Relay;
let target: WebhookReceiver;
let orgId: string;
let userId: string;
/** The receiver's port: the same private server reached by name (localhost) and by address (127.0.0.1). */
let port: string;

beforeAll(async () => {
  [db, target] = await Promise.all([createTestDatabase(), startWebhookReceiver()]);
  port = new URL(target.url).port;
  temporal = await startTestTemporal(db, 'ssrf-surfaces', {
    actions: testActionSettings({ allow: parseAllowList(''), ipfsGateway: `${target.url}/ipfs/` }),
  });
  ({ client } = temporal);
  const { taskQueue } = temporal;
  service = new TriggerService({ pool: db.pool, temporal: client, taskQueue, logger: testLogger });
  relay = new Relay({
    pool: db.pool,
    databaseUrl: db.url,
    logger: testLogger,
    dispatcher: new TriggerDispatcher({ pool: db.pool, temporal: client, taskQueue, logger: testLogger }),
  });
  userId = await insertUser(db.pool);
  orgId = await insertOrganization(db.pool, userId);
});

afterAll(async () => {
  await temporal?.close();
  await target?.close();
  await db?.drop();
});

let block = 1_000;
const now = () => Math.floor(Date.now() / 1000);

/** The agent registers with this token URI (its registration file). */
async function register(agentId: string, tokenUri: string) {
  await appendEvents(db.pool, [
    feedbackRecord({
      block_number: ++block,
      timestamp: now(),
      registry: 'identity',
      event_type: 'Registered',
      agent_id: agentId,
      token_uri: tokenUri,
      owner: '0x' + '11'.repeat(20),
      value: null,
      value_decimals: null,
      client_address: null,
      feedback_index: null,
      tag1: null,
      tag2: null,
      endpoint: null,
      file_uri: null,
      file_hash: null,
    }),
  ]);
}

const dataUri = (file: unknown) =>
  `data:application/json;base64,${Buffer.from(JSON.stringify(file)).toString('base64')}`;
const registrationWithMcp = (endpoint: string) => ({
  type: 'https://eips.ethereum.org/EIPS/eip-8004#registration-v1',
  name: 'agent',
  services: [{ name: 'MCP', endpoint }],
});

/** A trigger on one agent's feedback with these MCP actions; fires once; returns its deliveries once all are dead or delivered. */
async function deliverMcp(agentId: string, configs: Record<string, unknown>[], feedback: Record<string, unknown> = {}) {
  const id = await service.create({
    organizationId: orgId,
    userId,
    name: `ssrf ${agentId}`,
    chainId: 31337,
    registry: 'reputation',
    conditions: [{ condition_type: 'agent_id_equals', operator: '=', value: agentId }],
    actions: configs.map((config) => ({
      action_type: 'mcp' as const,
      config: {
        tool_name: 'agent.receiveFeedback',
        timeout_ms: 3_000,
        retry: { initial_interval_ms: 100, max_interval_ms: 400 },
        ...config,
      },
    })),
  });
  await appendEvents(db.pool, [
    feedbackRecord({ block_number: ++block, timestamp: now(), agent_id: agentId, ...feedback }),
  ]);
  await relay.catchUp();
  return eventually(
    async () =>
      (
        await db.pool.query(
          `SELECT status, attempts, last_error FROM deliveries WHERE trigger_id = $1 ORDER BY created_at, action_id`,
          [id],
        )
      ).rows,
    (rows) => rows.length === configs.length && rows.every((r) => r.status === 'dead' || r.status === 'delivered'),
    30_000,
    50,
  );
}

describe('SSRF protection beyond REST URLs', () => {
  it('refuses MCP endpoints on metadata and private addresses, also behind a host name, on the first attempt', async () => {
    const before = target.requests.length;
    const rows = await deliverMcp('41', [
      { endpoint: 'http://169.254.169.254/latest/meta-data/' },
      { endpoint: `http://127.0.0.1:${port}/mcp` },
      { endpoint: `http://localhost:${port}/mcp` },
    ]);
    expect(rows.map((r) => [r.status, r.attempts])).toEqual([
      ['dead', 1],
      ['dead', 1],
      ['dead', 1],
    ]);
    expect(rows[0].last_error).toMatch(/169\.254\.169\.254/);
    expect(rows[1].last_error).toMatch(/127\.0\.0\.1/);
    expect(rows[2].last_error).toMatch(/localhost resolves to 127\.0\.0\.1/);
    expect(target.requests.length).toBe(before);
  });

  it('refuses an endpoint from a registration file (resolve_endpoint) that points at the metadata or a private address', async () => {
    await register('42', dataUri(registrationWithMcp('http://169.254.169.254/latest/meta-data/iam/')));
    await register('43', dataUri(registrationWithMcp(`http://localhost:${port}/mcp`)));
    const before = target.requests.length;
    const [metadata] = await deliverMcp('42', [{ resolve_endpoint: true }]);
    const [named] = await deliverMcp('43', [{ resolve_endpoint: true }]);
    expect([metadata.status, metadata.attempts, named.status, named.attempts]).toEqual(['dead', 1, 'dead', 1]);
    expect(metadata.last_error).toMatch(/169\.254\.169\.254/);
    expect(named.last_error).toMatch(/localhost resolves to 127\.0\.0\.1/);
    expect(target.requests.length).toBe(before);
  });

  it('refuses to fetch a registration file, an IPFS file through a private gateway, or a feedback file from a private address', async () => {
    await register('44', `http://localhost:${port}/agent-44.json`);
    await register('45', 'ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi/agent.json');
    const before = target.requests.length;
    const [registrationFile] = await deliverMcp('44', [{ resolve_endpoint: true }]);
    const [ipfs] = await deliverMcp('45', [{ resolve_endpoint: true }]);
    const [feedbackFile] = await deliverMcp('46', [{ endpoint: 'https://agent.example/mcp', verify_file_hash: true }], {
      file_uri: `http://127.0.0.1:${port}/feedback.json`,
      file_hash: '0x' + '00'.repeat(32),
    });
    expect([registrationFile, ipfs, feedbackFile].map((r) => [r.status, r.attempts])).toEqual([
      ['dead', 1],
      ['dead', 1],
      ['dead', 1],
    ]);
    expect(registrationFile.last_error).toMatch(/localhost resolves to 127\.0\.0\.1/);
    expect(ipfs.last_error).toMatch(/127\.0\.0\.1/);
    expect(feedbackFile.last_error).toMatch(/127\.0\.0\.1/);
    expect(target.requests.length).toBe(before);
  });
});
