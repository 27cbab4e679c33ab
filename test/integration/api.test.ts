/**
 * The API through createCaller and over real HTTP (tRPC and REST): accounts and sessions, API keys, organizations,
 * triggers, events and deliveries; tenancy (other organization, each role, revoked/expired/under-permitted keys);
 * malformed and oversized input; rate limits.
 */
import { createTRPCClient, httpLink, TRPCClientError } from '@trpc/client';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createSiweMessage } from 'viem/siwe';
import { TRPCError } from '@trpc/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppRouter } from '../../src/api/trpc/app-router.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { appendEvents, feedbackRecord } from '../helpers/fixtures.js';
import { INVITATION_TOKEN, joinByInvitation, startTestApi, verifyByMail, type ApiCaller, type TestApi } from '../helpers/api.js';
import { extract } from '../helpers/mail.js';

let db: TestDatabase;
let api: TestApi;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestApi(db, { withWorker: true });
});
afterAll(async () => {
  await api?.close();
  await db?.drop();
});

let n = 0;
async function account(caller?: ApiCaller) {
  n++;
  const c = caller ?? (await api.caller({}, `10.0.0.${n}`));
  const session = await c.auth.register({ username: `user${n}_${Date.now() % 100000}`, email: `u${n}_${Date.now()}@example.test`, password: 'correct horse battery' });
  return { ...session, as: await api.caller({ authorization: `Bearer ${session.accessToken}` }, `10.1.0.${n}`) };
}

const trigger = {
  name: 'low feedback', chainId: 31337, registry: 'reputation' as const,
  conditions: [{ condition_type: 'score_threshold', field: 'value', operator: '<', value: '50' }],
  actions: [{ action_type: 'rest' as const, config: { url: 'https://receiver.example/hook' } }],
};

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'OK';
  } catch (err) {
    if (err instanceof TRPCError) return err.code;
    throw err;
  }
}

describe('accounts and sessions', () => {
  it('registers with a personal organization, signs in, rotates refresh tokens and revokes a reused family', async () => {
    const anon = await api.caller({}, '10.9.0.1');
    const reg = await anon.auth.register({ username: 'alice', email: 'Alice@Example.test', password: 'correct horse battery' });
    expect(reg.organizationId).toBeDefined();
    const me = await (await api.caller({ authorization: `Bearer ${reg.accessToken}` })).auth.me({});
    expect(me.user).toMatchObject({ username: 'alice', email: 'alice@example.test' });
    expect(me.organizations).toEqual([expect.objectContaining({ id: reg.organizationId, role: 'owner', isPersonal: true })]);

    const login = await anon.auth.login({ email: 'alice@example.test', password: 'correct horse battery' });
    expect(await code(anon.auth.login({ email: 'alice@example.test', password: 'wrong' }))).toBe('UNAUTHORIZED');
    const next = await anon.auth.refresh({ refreshToken: login.refreshToken });
    expect(next.refreshToken).not.toBe(login.refreshToken);
    // Reusing the first token revokes the family: the newest token dies with it.
    expect(await code(anon.auth.refresh({ refreshToken: login.refreshToken }))).toBe('UNAUTHORIZED');
    expect(await code(anon.auth.refresh({ refreshToken: next.refreshToken }))).toBe('UNAUTHORIZED');
    expect(await code(anon.auth.register({ username: 'alice', email: 'other@example.test', password: 'correct horse battery' }))).toBe('CONFLICT');
    expect(await code((await api.caller({ authorization: 'Bearer not-a-token' })).auth.me({}))).toBe('UNAUTHORIZED');
  });
});

describe('Sign-In with Ethereum', () => {
  it('signs in with an EIP-4361 message once per nonce, creating the account on first use', async () => {
    const anon = await api.caller({}, '10.9.0.2');
    const wallet = privateKeyToAccount(generatePrivateKey());
    const { nonce, domain } = await anon.auth.siweNonce({});
    const message = createSiweMessage({ address: wallet.address, chainId: 1, domain, nonce, uri: `http://${domain}`, version: '1' });
    const signature = await wallet.signMessage({ message });
    const session = await anon.auth.siweVerify({ message, signature });
    const me = await (await api.caller({ authorization: `Bearer ${session.accessToken}` })).auth.me({});
    expect(me.user.walletAddress?.toLowerCase()).toBe(wallet.address.toLowerCase());
    expect(me.organizations).toHaveLength(1);
    expect(await code(anon.auth.siweVerify({ message, signature }))).toBe('UNAUTHORIZED');
    const forged = message.replace(wallet.address, privateKeyToAccount(generatePrivateKey()).address);
    expect(await code(anon.auth.siweVerify({ message: forged, signature }))).toBe('UNAUTHORIZED');
  });
});

describe('triggers, events and deliveries through createCaller', () => {
  it('creates, reads, edits, tests, disables and deletes a trigger; lists events and deliveries', async () => {
    const owner = await account();
    const org = owner.organizationId!;
    const created = await owner.as.triggers.create({ organizationId: org, ...trigger });
    expect(created).toMatchObject({ name: 'low feedback', enabled: true, conditions: [expect.objectContaining({ condition_type: 'score_threshold' })] });
    expect((await owner.as.triggers.list({ organizationId: org })).items.map((t) => t.id)).toEqual([created.id]);
    expect((await owner.as.triggers.get({ organizationId: org, triggerId: created.id })).id).toBe(created.id);

    const updated = await owner.as.triggers.update({ organizationId: org, triggerId: created.id, ...trigger, name: 'renamed' });
    expect(updated.name).toBe('renamed');
    const bad = owner.as.triggers.update({
      organizationId: org, triggerId: created.id, ...trigger,
      conditions: [{ condition_type: 'ema_threshold', operator: '<', value: '5', config: { alpha: 3 } }],
    });
    await expect(bad).rejects.toMatchObject({ code: 'BAD_REQUEST' });

    const preview = await owner.as.triggers.test({
      organizationId: org, triggerId: created.id,
      event: { chain_id: 31337, timestamp: 1_767_225_600, registry: 'reputation', event_type: 'NewFeedback', agent_id: '0', value: '4999', value_decimals: 2 },
    });
    expect(preview).toMatchObject({ eligible: true, matched: true, fired: true });
    expect(preview.actions[0]).toMatchObject({ actionType: 'rest', preview: { method: 'POST', url: 'https://receiver.example/hook' } });

    expect((await owner.as.triggers.setEnabled({ organizationId: org, triggerId: created.id, enabled: false })).enabled).toBe(false);
    const state = await owner.as.triggers.state({ organizationId: org, triggerId: created.id });
    expect(state).toMatchObject({ fired: 0, pendingAbsences: 0 });

    await appendEvents(db.pool, [feedbackRecord({ block_number: 77, value: '-5' })]);
    const events = await owner.as.events.search({ chainId: 31337, eventType: 'NewFeedback', limit: 10 });
    expect(events.items[0]).toMatchObject({ id: '31337-77-0', fields: expect.objectContaining({ value: '-5' }) });
    const backtest = await owner.as.triggers.backtest({ organizationId: org, triggerId: created.id, chainId: 31337, fromBlock: 0, toBlock: 100 });
    expect(backtest.firings.map((f) => f.eventId)).toEqual(['31337-77-0']);

    expect((await owner.as.deliveries.list({ organizationId: org })).items).toEqual([]);
    expect((await owner.as.deliveries.breakers({ organizationId: org })).items).toEqual([]);
    const restAction = { organizationId: org, triggerId: created.id, actionId: created.actions[0]!.id };
    const secret = await owner.as.webhooks.secret(restAction);
    expect(secret).toMatchObject({ actionId: restAction.actionId, secret: expect.stringMatching(/^whsec_/), previousSecret: null });
    const rotated = await owner.as.webhooks.rotateSecret({ ...restAction, windowHours: 1 });
    expect(rotated).toMatchObject({ previousSecret: secret.secret });
    expect(rotated.secret).not.toBe(secret.secret);

    expect(await owner.as.triggers.delete({ organizationId: org, triggerId: created.id })).toEqual({ deleted: true });
    expect(await code(owner.as.triggers.get({ organizationId: org, triggerId: created.id }))).toBe('NOT_FOUND');
  });
});

describe('tenancy: every organization-scoped procedure refuses outsiders and insufficient roles, and changes nothing', () => {
  it('another organization, each role, revoked/expired/under-permitted API keys', async () => {
    const owner = await account();
    const org = owner.organizationId!;
    const t = await owner.as.triggers.create({ organizationId: org, ...trigger });
    const outsider = await account();
    const viewer = await account();
    const member = await account();
    await joinByInvitation(api, owner.as, org, { email: (await viewer.as.auth.me({})).user.email, as: viewer.as }, 'viewer');
    await joinByInvitation(api, owner.as, org, { email: (await member.as.auth.me({})).user.email, as: member.as }, 'member');
    const openInvitation = await owner.as.organizations.invite({ organizationId: org, email: 'pending@example.test', role: 'viewer' });

    const readKey = await owner.as.apiKeys.create({ organizationId: org, name: 'read only', permissions: ['read'] });
    const revokedKey = await owner.as.apiKeys.create({ organizationId: org, name: 'revoked', permissions: ['read', 'write', 'delete'] });
    await owner.as.apiKeys.revoke({ organizationId: org, keyId: revokedKey.id, reason: 'leaked' });
    const expiredKey = await owner.as.apiKeys.create({ organizationId: org, name: 'expiring', permissions: ['read'], expiresAt: new Date(Date.now() + 1_500).toISOString() });
    await new Promise((r) => setTimeout(r, 1_600));

    const calls: Record<string, (c: ApiCaller) => Promise<unknown>> = {
      'triggers.list': (c) => c.triggers.list({ organizationId: org }),
      'triggers.get': (c) => c.triggers.get({ organizationId: org, triggerId: t.id }),
      'triggers.create': (c) => c.triggers.create({ organizationId: org, ...trigger }),
      'triggers.update': (c) => c.triggers.update({ organizationId: org, triggerId: t.id, ...trigger, name: 'hijacked' }),
      'triggers.setEnabled': (c) => c.triggers.setEnabled({ organizationId: org, triggerId: t.id, enabled: false }),
      'triggers.delete': (c) => c.triggers.delete({ organizationId: org, triggerId: t.id }),
      'triggers.state': (c) => c.triggers.state({ organizationId: org, triggerId: t.id }),
      'triggers.backtest': (c) => c.triggers.backtest({ organizationId: org, triggerId: t.id, chainId: 31337, fromBlock: 0, toBlock: 1 }),
      'deliveries.list': (c) => c.deliveries.list({ organizationId: org }),
      'deliveries.replay': (c) => c.deliveries.replay({ organizationId: org, triggerId: t.id }),
      'deliveries.breakers': (c) => c.deliveries.breakers({ organizationId: org }),
      'deliveries.resetBreaker': (c) => c.deliveries.resetBreaker({ organizationId: org, destination: 'rest:receiver.example' }),
      'webhooks.secret': (c) => c.webhooks.secret({ organizationId: org, triggerId: t.id, actionId: t.actions[0]!.id }),
      'webhooks.rotateSecret': (c) => c.webhooks.rotateSecret({ organizationId: org, triggerId: t.id, actionId: t.actions[0]!.id, windowHours: 1 }),
      'apiKeys.list': (c) => c.apiKeys.list({ organizationId: org }),
      'apiKeys.create': (c) => c.apiKeys.create({ organizationId: org, name: 'x', permissions: ['admin'] }),
      'apiKeys.revoke': (c) => c.apiKeys.revoke({ organizationId: org, keyId: readKey.id }),
      'organizations.members': (c) => c.organizations.members({ organizationId: org }),
      'organizations.invite': (c) => c.organizations.invite({ organizationId: org, email: 'nobody@example.test', role: 'admin' }),
      'organizations.invitations': (c) => c.organizations.invitations({ organizationId: org }),
      'organizations.revokeInvitation': (c) => c.organizations.revokeInvitation({ organizationId: org, invitationId: openInvitation.id }),
      'organizations.rename': (c) => c.organizations.rename({ organizationId: org, name: 'pwned' }),
    };
    const snapshot = async () => (await db.pool.query(
      `SELECT (SELECT count(*) FROM triggers WHERE organization_id = $1) AS triggers, (SELECT name FROM organizations WHERE id = $1) AS name,
         (SELECT count(*) FROM api_keys WHERE organization_id = $1 AND revoked_at IS NULL) AS keys,
         (SELECT string_agg(email || coalesce(revoked_at::text, 'open'), ',') FROM organization_invitations WHERE organization_id = $1) AS invitations,
         (SELECT string_agg(user_id || role, ',' ORDER BY user_id) FROM organization_members WHERE organization_id = $1) AS members,
         (SELECT string_agg(name || enabled, ',') FROM triggers WHERE organization_id = $1) AS trigger_state`, [org])).rows[0];
    const before = await snapshot();

    const outsiders: [string, ApiCaller][] = [
      ['user of another organization', outsider.as],
      ['revoked key', await api.caller({ authorization: `Bearer ${revokedKey.key}` })],
      ['expired key', await api.caller({ 'x-api-key': expiredKey.key })],
      ['key of another organization', await api.caller({ 'x-api-key': (await outsider.as.apiKeys.create({ organizationId: outsider.organizationId!, name: 'theirs', permissions: ['read', 'write', 'delete', 'admin'] })).key })],
    ];
    for (const [who, caller] of outsiders) {
      for (const [name, call] of Object.entries(calls)) {
        expect([who, name, await code(call(caller))]).toEqual([who, name, expect.stringMatching(/^(FORBIDDEN|UNAUTHORIZED)$/)]);
      }
    }
    // Each role and each permission: exactly what it may do.
    const writes = ['triggers.create', 'triggers.update', 'triggers.setEnabled', 'deliveries.replay'];
    const adminOnly = ['deliveries.resetBreaker', 'webhooks.secret', 'webhooks.rotateSecret', 'apiKeys.list', 'apiKeys.create', 'apiKeys.revoke',
      'organizations.invite', 'organizations.invitations', 'organizations.revokeInvitation', 'organizations.rename'];
    const readOnlyKey = await api.caller({ 'x-api-key': readKey.key });
    for (const [who, caller] of [['viewer', viewer.as], ['read-only key', readOnlyKey]] as const) {
      for (const name of [...writes, 'triggers.delete', ...adminOnly]) {
        expect([who, name, await code(calls[name]!(caller))]).toEqual([who, name, 'FORBIDDEN']);
      }
      expect(await code(calls['triggers.list']!(caller))).toBe('OK');
    }
    for (const name of adminOnly) expect(['member', name, await code(calls[name]!(member.as))]).toEqual(['member', name, 'FORBIDDEN']);
    expect(await snapshot()).toEqual(before);
    // The member can write.
    expect(await code(calls['triggers.setEnabled']!(member.as))).toBe('OK');
  });
});

describe('organizations: invitations, transfer and delete', () => {
  it('invites by email, transfers ownership to a member, and deletes with its triggers (owner only)', async () => {
    const owner = await account();
    const org = (await owner.as.organizations.create({ name: 'Team', slug: `team-${Date.now()}` })).id;
    const invitee = await account();
    const inviteeEmail = (await invitee.as.auth.me({})).user.email;
    const stranger = await account();
    await verifyByMail(api, inviteeEmail);
    await owner.as.organizations.invite({ organizationId: org, email: inviteeEmail, role: 'admin' });
    const token = extract(await api.mailbox.waitFor(inviteeEmail, 2), INVITATION_TOKEN);
    expect(await code(stranger.as.organizations.acceptInvitation({ token }))).toBe('NOT_FOUND');
    expect(await invitee.as.organizations.acceptInvitation({ token })).toMatchObject({ role: 'admin' });
    expect(await code(invitee.as.organizations.acceptInvitation({ token }))).toBe('NOT_FOUND');

    // An admin is not the owner: no transfer, no delete.
    expect(await code(invitee.as.organizations.transfer({ organizationId: org, userId: invitee.userId }))).toBe('FORBIDDEN');
    expect(await code(invitee.as.organizations.delete({ organizationId: org }))).toBe('FORBIDDEN');
    expect(await code(owner.as.organizations.transfer({ organizationId: org, userId: stranger.userId }))).toBe('BAD_REQUEST');
    await owner.as.organizations.transfer({ organizationId: org, userId: invitee.userId });
    const roles = Object.fromEntries((await invitee.as.organizations.members({ organizationId: org })).items.map((m) => [m.userId, m.role]));
    expect(roles).toEqual({ [invitee.userId]: 'owner', [owner.userId]: 'admin' });

    const t = await invitee.as.triggers.create({ organizationId: org, ...trigger });
    expect(await invitee.as.organizations.delete({ organizationId: org })).toEqual({ deleted: true, triggersDeleted: 1 });
    expect((await db.pool.query('SELECT 1 FROM triggers WHERE id = $1', [t.id])).rowCount).toBe(0);
    expect(await code(owner.as.triggers.list({ organizationId: org }))).toBe('FORBIDDEN');
  });
});

describe('organization access is cached per process, and changes take effect at once', () => {
  /**
   * Retries until the call gives `expected` (a change made by another process arrives by NOTIFY), at most ~2 s and
   * 20 calls (the caller's plan allows 50 requests an hour).
   */
  async function eventually(call: () => Promise<unknown>, expected: string): Promise<string> {
    let last = '';
    for (let i = 0; i < 20 && last !== expected; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 100));
      last = await code(call());
    }
    return last;
  }

  it('a removed member or a downgraded role is refused on the next request; another process is heard by NOTIFY', async () => {
    const owner = await account();
    const org = (await owner.as.organizations.create({ name: 'Cached', slug: `cached-${Date.now()}` })).id;
    const member = await account();
    const memberEmail = (await member.as.auth.me({})).user.email;
    expect(await code(member.as.triggers.list({ organizationId: org }))).toBe('FORBIDDEN'); // a cached "not a member"
    await joinByInvitation(api, owner.as, org, { email: memberEmail, as: member.as }, 'member');
    expect(await code(member.as.triggers.list({ organizationId: org }))).toBe('OK');
    await owner.as.organizations.removeMember({ organizationId: org, userId: member.userId });
    expect(await code(member.as.triggers.list({ organizationId: org }))).toBe('FORBIDDEN');

    // Changes written by another API process (here: straight to the database) reach this one's cache by NOTIFY.
    await db.pool.query(`INSERT INTO organization_members (organization_id, user_id, role) VALUES ($1, $2, 'member')`, [org, member.userId]);
    expect(await eventually(() => member.as.triggers.list({ organizationId: org }), 'OK')).toBe('OK');
    const created = await member.as.triggers.create({ organizationId: org, ...trigger });
    await db.pool.query(`UPDATE organization_members SET role = 'viewer' WHERE organization_id = $1 AND user_id = $2`, [org, member.userId]);
    expect(await eventually(() => member.as.triggers.setEnabled({ organizationId: org, triggerId: created.id, enabled: false }), 'FORBIDDEN')).toBe('FORBIDDEN');
    expect((await db.pool.query('SELECT enabled FROM triggers WHERE id = $1', [created.id])).rows).toEqual([{ enabled: true }]);

    // API keys: a deactivated organization refuses its keys.
    const key = await owner.as.apiKeys.create({ organizationId: org, name: 'reader', permissions: ['read'] });
    const keyCaller = await api.caller({ 'x-api-key': key.key });
    expect(await code(keyCaller.triggers.list({ organizationId: org }))).toBe('OK');
    await db.pool.query('UPDATE organizations SET is_active = false WHERE id = $1', [org]);
    expect(await eventually(() => keyCaller.triggers.list({ organizationId: org }), 'FORBIDDEN')).toBe('FORBIDDEN');
    await db.pool.query('UPDATE organizations SET is_active = true WHERE id = $1', [org]);
    expect(await eventually(() => keyCaller.triggers.list({ organizationId: org }), 'OK')).toBe('OK');
    expect(api.services.organizationAccess?.listening).toBe(true);
  });
});

describe('over HTTP', () => {
  it('a typed tRPC client and the REST API serve the same procedures', async () => {
    const trpc = createTRPCClient<AppRouter>({ links: [httpLink({ url: `${api.server.url}/trpc` })] });
    const session = await trpc.auth.register.mutate({ username: 'http_user', email: 'http@example.test', password: 'correct horse battery' });
    const authed = createTRPCClient<AppRouter>({ links: [httpLink({ url: `${api.server.url}/trpc`, headers: { authorization: `Bearer ${session.accessToken}` } })] });
    const created = await authed.triggers.create.mutate({ organizationId: session.organizationId!, ...trigger });

    const rest = (path: string, init: RequestInit = {}) =>
      fetch(`${api.server.url}/api/v1${path}`, { ...init, headers: { 'content-type': 'application/json', ...(init.headers as Record<string, string>) } });
    const login = await rest('/auth/login', { method: 'POST', body: JSON.stringify({ email: 'http@example.test', password: 'correct horse battery' }) });
    expect(login.status).toBe(200);
    const { accessToken } = (await login.json()) as { accessToken: string };
    const key = await rest(`/organizations/${session.organizationId}/api-keys`, {
      method: 'POST', headers: { authorization: `Bearer ${accessToken}` }, body: JSON.stringify({ name: 'partner', permissions: ['read'] }),
    });
    expect(key.status).toBe(200);
    const { key: apiKey } = (await key.json()) as { key: string };
    expect(apiKey).toMatch(/^sk_live_/);
    const list = await rest(`/organizations/${session.organizationId}/triggers`, { headers: { 'x-api-key': apiKey } });
    expect(list.status).toBe(200);
    expect(list.headers.get('x-ratelimit-limit')).toBeTruthy();
    expect(((await list.json()) as { items: { id: string }[] }).items.map((t) => t.id)).toEqual([created.id]);
    // Field-level errors, never a 500.
    const invalid = await rest(`/organizations/${session.organizationId}/triggers`, {
      method: 'POST', headers: { authorization: `Bearer ${accessToken}` }, body: JSON.stringify({ ...trigger, chainId: 'one' }),
    });
    expect(invalid.status).toBe(400);
    expect(JSON.stringify(await invalid.json())).toContain('chainId');
    const notUuid = await rest('/organizations/not-a-uuid/triggers', { headers: { authorization: `Bearer ${accessToken}` } });
    expect(notUuid.status, await notUuid.clone().text()).toBe(400);
    const huge = await rest(`/organizations/${session.organizationId}/triggers`, {
      method: 'POST', headers: { authorization: `Bearer ${accessToken}` }, body: JSON.stringify({ ...trigger, name: 'x'.repeat(2 * 1024 * 1024) }),
    });
    expect(huge.status).toBe(413);
    expect((await rest('/me')).status).toBe(401);
    const doc = (await (await fetch(`${api.server.url}/api/v1/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/auth/login', '/organizations/{organizationId}/triggers', '/events']));
    expect((await fetch(`${api.server.url}/api/v1/docs`)).status).toBe(200);
    await expect(authed.triggers.get.query({ organizationId: session.organizationId!, triggerId: '00000000-0000-4000-8000-000000000000' })).rejects.toBeInstanceOf(TRPCClientError);
  });

  it('rate limits: headers, 429 with Retry-After, and a key override', async () => {
    const owner = await account();
    const limited = await owner.as.apiKeys.create({ organizationId: owner.organizationId!, name: 'limited', permissions: ['read'], rateLimitOverride: 3 });
    const call = () => fetch(`${api.server.url}/api/v1/organizations/${owner.organizationId}/triggers`, { headers: { 'x-api-key': limited.key } });
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 4; i++) {
      last = await call();
      statuses.push(last.status);
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(last!.headers.get('x-ratelimit-remaining')).toBe('0');
  });
});
