/**
 * The API through createCaller and over real HTTP (tRPC and REST): accounts and sessions, API keys, organizations,
 * triggers, events and deliveries; tenancy (other organization, each role, revoked/expired/under-permitted keys);
 * malformed and oversized input; rate limits.
 */
import { createTRPCClient, httpLink, TRPCClientError } from '@trpc/client';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createSiweMessage } from 'viem/siwe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { appRouter, type AppRouter } from '../../src/api/trpc/app-router.js';
import { orgInput } from '../../src/api/trpc/trpc.js';
import { ROLE_RANK, type Permission } from '../../src/auth/authorization.js';
import { issueClientCredentialsToken } from '../../src/auth/oauth.js';
import { credit } from '../../src/billing/ledger.js';
import { QUERY_TOOL_NAMES } from '../../src/queries/tool.js';
import { createTestDatabase, databaseFingerprint, type TestDatabase } from '../helpers/db.js';
import { appendEvents, feedbackRecord } from '../helpers/fixtures.js';
import {
  code,
  INVITATION_TOKEN,
  joinByInvitation,
  startTestApi,
  verifyByMail,
  type ApiCaller,
  type TestApi,
} from '../helpers/api.js';
import { extract } from '../helpers/mail.js';
import { stripeMockEnv, TEST_PACK } from '../helpers/stripe-env.js';
import { startTestChain, type TestChain } from '../helpers/chain.js';

let db: TestDatabase;
let api: TestApi;
/** A chain with our registries: the agent-link procedures check signatures against its identity registry. */
let chain: TestChain;

beforeAll(async () => {
  [db, chain] = await Promise.all([createTestDatabase(), startTestChain()]);
  // Billing configured (stripe-mock): the tenancy table calls the checkout procedures too.
  api = await startTestApi(db, {
    withWorker: true,
    env: { ...stripeMockEnv(), CHAINS: JSON.stringify([chain.config]) },
  });
});
afterAll(async () => {
  await api?.close();
  await chain?.stop();
  await db?.drop();
});

let n = 0;
/** A new user with a personal organization on `plan` (set before any request reads it: plans are cached per process). */
async function account(options: { plan?: 'free' | 'enterprise' } = {}) {
  n++;
  const c = await api.caller({}, `10.0.0.${n}`);
  const session = await c.auth.register({
    username: `user${n}_${Date.now() % 100000}`,
    email: `u${n}_${Date.now()}@example.test`,
    password: 'correct horse battery',
  });
  if (options.plan)
    await db.pool.query('UPDATE organizations SET plan = $2 WHERE id = $1', [session.organizationId, options.plan]);
  return { ...session, as: await api.caller({ authorization: `Bearer ${session.accessToken}` }, `10.1.0.${n}`) };
}
type Account = Awaited<ReturnType<typeof account>>;

const trigger = {
  name: 'low feedback',
  chainId: 31337,
  registry: 'reputation' as const,
  conditions: [{ condition_type: 'score_threshold', field: 'value', operator: '<', value: '50' }],
  actions: [{ action_type: 'rest' as const, config: { url: 'https://receiver.example/hook' } }],
};

describe('accounts and sessions', () => {
  it('registers with a personal organization, signs in, rotates refresh tokens and revokes a reused family', async () => {
    const anon = await api.caller({}, '10.9.0.1');
    const reg = await anon.auth.register({
      username: 'alice',
      email: 'Alice@Example.test',
      password: 'correct horse battery',
    });
    expect(reg.organizationId).toBeDefined();
    const me = await (await api.caller({ authorization: `Bearer ${reg.accessToken}` })).auth.me({});
    expect(me.user).toMatchObject({ username: 'alice', email: 'alice@example.test' });
    expect(me.organizations).toEqual([
      expect.objectContaining({ id: reg.organizationId, role: 'owner', isPersonal: true }),
    ]);

    const login = await anon.auth.login({ email: 'alice@example.test', password: 'correct horse battery' });
    expect(await code(anon.auth.login({ email: 'alice@example.test', password: 'wrong' }))).toBe('UNAUTHORIZED');
    const next = await anon.auth.refresh({ refreshToken: login.refreshToken });
    expect(next.refreshToken).not.toBe(login.refreshToken);
    // Reusing the first token revokes the family: the newest token dies with it.
    expect(await code(anon.auth.refresh({ refreshToken: login.refreshToken }))).toBe('UNAUTHORIZED');
    expect(await code(anon.auth.refresh({ refreshToken: next.refreshToken }))).toBe('UNAUTHORIZED');
    expect(
      await code(
        anon.auth.register({ username: 'alice', email: 'other@example.test', password: 'correct horse battery' }),
      ),
    ).toBe('CONFLICT');
    expect(await code((await api.caller({ authorization: 'Bearer not-a-token' })).auth.me({}))).toBe('UNAUTHORIZED');
  });
});

describe('Sign-In with Ethereum', () => {
  it('signs in with an EIP-4361 message once per nonce, creating the account on first use', async () => {
    const anon = await api.caller({}, '10.9.0.2');
    const wallet = privateKeyToAccount(generatePrivateKey());
    const { nonce, domain } = await anon.auth.siweNonce({});
    const message = createSiweMessage({
      address: wallet.address,
      chainId: 1,
      domain,
      nonce,
      uri: `http://${domain}`,
      version: '1',
    });
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
    expect(created).toMatchObject({
      name: 'low feedback',
      enabled: true,
      conditions: [expect.objectContaining({ condition_type: 'score_threshold' })],
    });
    expect((await owner.as.triggers.list({ organizationId: org })).items.map((t) => t.id)).toEqual([created.id]);
    expect((await owner.as.triggers.get({ organizationId: org, triggerId: created.id })).id).toBe(created.id);

    const updated = await owner.as.triggers.update({
      organizationId: org,
      triggerId: created.id,
      ...trigger,
      name: 'renamed',
    });
    expect(updated.name).toBe('renamed');
    const bad = owner.as.triggers.update({
      organizationId: org,
      triggerId: created.id,
      ...trigger,
      conditions: [{ condition_type: 'ema_threshold', operator: '<', value: '5', config: { alpha: 3 } }],
    });
    await expect(bad).rejects.toMatchObject({ code: 'BAD_REQUEST' });

    const preview = await owner.as.triggers.test({
      organizationId: org,
      triggerId: created.id,
      event: {
        chain_id: 31337,
        timestamp: 1_767_225_600,
        registry: 'reputation',
        event_type: 'NewFeedback',
        agent_id: '0',
        value: '4999',
        value_decimals: 2,
      },
    });
    expect(preview).toMatchObject({ eligible: true, matched: true, fired: true });
    expect(preview.actions[0]).toMatchObject({
      actionType: 'rest',
      preview: { method: 'POST', url: 'https://receiver.example/hook' },
    });

    expect(
      (await owner.as.triggers.setEnabled({ organizationId: org, triggerId: created.id, enabled: false })).enabled,
    ).toBe(false);
    const state = await owner.as.triggers.state({ organizationId: org, triggerId: created.id });
    expect(state).toMatchObject({ fired: 0, pendingAbsences: 0 });

    await appendEvents(db.pool, [feedbackRecord({ block_number: 77, value: '-5' })]);
    const events = await owner.as.events.search({ chainId: 31337, eventType: 'NewFeedback', limit: 10 });
    expect(events.items[0]).toMatchObject({ id: '31337-77-0', fields: expect.objectContaining({ value: '-5' }) });
    const backtest = await owner.as.triggers.backtest({
      organizationId: org,
      triggerId: created.id,
      chainId: 31337,
      fromBlock: 0,
      toBlock: 100,
    });
    expect(backtest.firings.map((f) => f.eventId)).toEqual(['31337-77-0']);

    expect((await owner.as.deliveries.list({ organizationId: org })).items).toEqual([]);
    expect((await owner.as.deliveries.breakers({ organizationId: org })).items).toEqual([]);
    const restAction = { organizationId: org, triggerId: created.id, actionId: created.actions[0]!.id };
    const secret = await owner.as.webhooks.secret(restAction);
    expect(secret).toMatchObject({
      actionId: restAction.actionId,
      secret: expect.stringMatching(/^whsec_/),
      previousSecret: null,
    });
    const rotated = await owner.as.webhooks.rotateSecret({ ...restAction, windowHours: 1 });
    expect(rotated).toMatchObject({ previousSecret: secret.secret });
    expect(rotated.secret).not.toBe(secret.secret);

    expect(await owner.as.triggers.delete({ organizationId: org, triggerId: created.id })).toEqual({ deleted: true });
    expect(await code(owner.as.triggers.get({ organizationId: org, triggerId: created.id }))).toBe('NOT_FOUND');
  });
});

describe('tenancy: every organization-scoped procedure refuses outsiders and insufficient roles, and changes nothing', () => {
  type Role = keyof typeof ROLE_RANK;
  type Fixture = {
    org: string;
    triggerId: string;
    actionId: number;
    owner: Account;
    admin: Account;
    spareUserId: string;
  };
  const QUERY_CHAIN = 31337;

  interface Entry {
    /** The least role that may call it. */
    role: Role;
    /** The permission an API key (or OAuth scope) needs ('admin' holds every one); null: no key or token may (owner only). */
    key: Permission | null;
    /** A valid input, without organizationId; called once per use, so it may create what the call consumes. */
    input: (fx: Fixture) => Record<string, unknown> | Promise<Record<string, unknown>>;
    /** Undoes a successful call (so that later calls find the organization as before). */
    undo?: (fx: Fixture) => Promise<unknown>;
  }
  const asOwner = (fx: Fixture) => fx.owner.as;
  const newTrigger = async (fx: Fixture) => ({
    triggerId: (await asOwner(fx).triggers.create({ organizationId: fx.org, ...trigger })).id,
  });
  const newKey = async (fx: Fixture) => ({
    keyId: (await asOwner(fx).apiKeys.create({ organizationId: fx.org, name: 'target', permissions: ['read'] })).id,
  });
  /** A new agent of an anvil account, and its owner's signature of a link challenge for the organization. */
  const signedLink = async (fx: Fixture) => {
    const agentOwner = chain.registries.accounts[1]!;
    const receipt = await chain.registries.register(agentOwner, 'https://agent.example/registration.json');
    const input = { chainId: chain.config.chainId, agentId: BigInt(receipt.logs[0]!.topics[3]!).toString() };
    const c = await asOwner(fx).agents.createLinkChallenge({ organizationId: fx.org, ...input });
    const signature = await chain.registries.wallet.signMessage({ account: agentOwner, message: c.message });
    return { ...input, nonce: c.nonce, signature, scheme: 'eip191' as const };
  };
  /** A new agent linked to the organization by the owner (the procedures that need a link), with an MCP token if given. */
  const linkedAgent = async (fx: Fixture, token?: string) => {
    const { chainId, agentId, ...proof } = await signedLink(fx);
    await asOwner(fx).agents.link({ organizationId: fx.org, chainId, agentId, ...proof });
    if (token) await asOwner(fx).agents.registerMcpToken({ organizationId: fx.org, chainId, agentId, token });
    return { chainId, agentId };
  };
  let followed = 0;
  const follow = () => ({
    chainId: 31337,
    agentId: String(1_000 + ++followed),
    actions: [{ action_type: 'rest', config: { url: 'https://receiver.example/follow' } }],
  });
  let invited = 0;
  /**
   * The table: every organization-scoped procedure of the router must have an entry (checked against the router
   * below). Owner-only procedures are owner-only whatever orgProcedure's permission says. organizations.delete stays
   * last: the successful calls run in this order.
   */
  const table: Record<string, Entry> = {
    'triggers.list': { role: 'viewer', key: 'read', input: () => ({}) },
    'triggers.get': { role: 'viewer', key: 'read', input: (fx) => ({ triggerId: fx.triggerId }) },
    'triggers.create': { role: 'member', key: 'write', input: () => ({ ...trigger }) },
    'triggers.update': {
      role: 'member',
      key: 'write',
      input: (fx) => ({ triggerId: fx.triggerId, ...trigger, name: 'renamed' }),
    },
    'triggers.setEnabled': {
      role: 'member',
      key: 'write',
      input: (fx) => ({ triggerId: fx.triggerId, enabled: true }),
    },
    'triggers.delete': { role: 'member', key: 'delete', input: newTrigger },
    'triggers.state': { role: 'viewer', key: 'read', input: (fx) => ({ triggerId: fx.triggerId }) },
    'triggers.test': {
      role: 'viewer',
      key: 'read',
      input: (fx) => ({
        triggerId: fx.triggerId,
        event: {
          chain_id: 31337,
          timestamp: 1_767_225_600,
          registry: 'reputation',
          event_type: 'NewFeedback',
          agent_id: '0',
          value: '4999',
          value_decimals: 2,
        },
      }),
    },
    'triggers.backtest': {
      role: 'viewer',
      key: 'read',
      input: (fx) => ({ triggerId: fx.triggerId, chainId: 31337, fromBlock: 0, toBlock: 1 }),
    },
    'deliveries.list': { role: 'viewer', key: 'read', input: () => ({}) },
    'deliveries.attempts': { role: 'viewer', key: 'read', input: () => ({ idempotencyKey: 'no-such-delivery' }) },
    'deliveries.replay': { role: 'member', key: 'write', input: (fx) => ({ triggerId: fx.triggerId }) },
    'deliveries.breakers': { role: 'viewer', key: 'read', input: () => ({}) },
    'deliveries.resetBreaker': { role: 'admin', key: 'admin', input: () => ({ destination: 'rest:receiver.example' }) },
    'webhooks.secret': {
      role: 'admin',
      key: 'admin',
      input: (fx) => ({ triggerId: fx.triggerId, actionId: fx.actionId }),
    },
    'webhooks.rotateSecret': {
      role: 'admin',
      key: 'admin',
      input: (fx) => ({ triggerId: fx.triggerId, actionId: fx.actionId, windowHours: 1 }),
    },
    'telegram.createChatCode': { role: 'member', key: 'write', input: () => ({}) },
    'telegram.chats': { role: 'viewer', key: 'read', input: () => ({}) },
    'apiKeys.list': { role: 'admin', key: 'admin', input: () => ({}) },
    'apiKeys.create': { role: 'admin', key: 'admin', input: () => ({ name: 'created', permissions: ['read'] }) },
    'apiKeys.revoke': { role: 'admin', key: 'admin', input: newKey },
    'apiKeys.rotate': { role: 'admin', key: 'admin', input: newKey },
    'oauthClients.list': { role: 'admin', key: 'admin', input: () => ({}) },
    'oauthClients.create': { role: 'admin', key: 'admin', input: () => ({ name: 'client' }) },
    'oauthClients.deactivate': {
      role: 'admin',
      key: 'admin',
      input: async (fx) => ({
        clientId: (await asOwner(fx).oauthClients.create({ organizationId: fx.org, name: 'target' })).clientId,
      }),
    },
    'billing.account': { role: 'viewer', key: 'read', input: () => ({}) },
    'billing.entries': { role: 'viewer', key: 'read', input: () => ({ kind: 'purchase' }) },
    'billing.usage': { role: 'viewer', key: 'read', input: () => ({ period: 'month' }) },
    'billing.plan': { role: 'viewer', key: 'read', input: () => ({}) },
    'billing.packs': { role: 'viewer', key: 'read', input: () => ({}) },
    'billing.createCreditCheckout': { role: 'admin', key: 'admin', input: () => ({ packId: TEST_PACK.id }) },
    'billing.createSubscriptionCheckout': { role: 'admin', key: 'admin', input: () => ({ plan: 'pro' }) },
    'billing.portalLink': { role: 'admin', key: 'admin', input: () => ({}) },
    // Paid queries: any reader; the organization pays (credits granted below, on a chain with a checkpoint).
    ...Object.fromEntries(
      QUERY_TOOL_NAMES.map((name) => [
        `queries.${name}`,
        { role: 'viewer', key: 'read', input: () => ({ chainId: QUERY_CHAIN, agentId: '1' }) } satisfies Entry,
      ]),
    ),
    'agents.createLinkChallenge': {
      role: 'admin',
      key: 'admin',
      input: () => ({ chainId: chain.config.chainId, agentId: '0' }),
    },
    'agents.link': { role: 'admin', key: 'admin', input: signedLink },
    'agents.unlink': { role: 'admin', key: 'admin', input: (fx) => linkedAgent(fx) },
    'agents.listLinks': { role: 'viewer', key: 'read', input: () => ({}) },
    'agents.myAgents': { role: 'viewer', key: 'read', input: () => ({}) },
    'agents.registerMcpToken': {
      role: 'admin',
      key: 'admin',
      input: async (fx) => ({ ...(await linkedAgent(fx)), token: 'tok_tenancy_new' }),
    },
    'agents.rotateMcpToken': {
      role: 'admin',
      key: 'admin',
      input: async (fx) => ({ ...(await linkedAgent(fx, 'tok_tenancy_old')), token: 'tok_tenancy_new' }),
    },
    'agents.deleteMcpToken': { role: 'admin', key: 'admin', input: (fx) => linkedAgent(fx, 'tok_tenancy_old') },
    'agents.getMcpToken': { role: 'viewer', key: 'read', input: (fx) => linkedAgent(fx, 'tok_tenancy_old') },
    'agents.follow': { role: 'member', key: 'write', input: follow },
    'agents.unfollow': {
      role: 'member',
      key: 'delete',
      input: async (fx) => {
        const { chainId, agentId, actions } = follow();
        await asOwner(fx).agents.follow({ organizationId: fx.org, chainId, agentId, actions } as never);
        return { chainId, agentId };
      },
    },
    'agents.listFollows': { role: 'viewer', key: 'read', input: () => ({}) },
    'organizations.members': { role: 'viewer', key: 'read', input: () => ({}) },
    'organizations.rename': { role: 'admin', key: 'admin', input: () => ({ name: 'renamed' }) },
    'organizations.removeMember': {
      role: 'admin',
      key: 'admin',
      input: async (fx) => {
        await db.pool.query(
          `INSERT INTO organization_members (organization_id, user_id, role) VALUES ($1, $2, 'viewer') ON CONFLICT DO NOTHING`,
          [fx.org, fx.spareUserId],
        );
        return { userId: fx.spareUserId };
      },
    },
    'organizations.invite': {
      role: 'admin',
      key: 'admin',
      input: () => ({ email: `invited${++invited}@example.test`, role: 'viewer' }),
    },
    'organizations.invitations': { role: 'admin', key: 'admin', input: () => ({}) },
    'organizations.revokeInvitation': {
      role: 'admin',
      key: 'admin',
      input: async (fx) => ({
        invitationId: (
          await asOwner(fx).organizations.invite({
            organizationId: fx.org,
            email: `revoked${++invited}@example.test`,
            role: 'viewer',
          })
        ).id,
      }),
    },
    'organizations.transfer': {
      role: 'owner',
      key: null,
      input: (fx) => ({ userId: fx.admin.userId }),
      undo: (fx) => fx.admin.as.organizations.transfer({ organizationId: fx.org, userId: fx.owner.userId }),
    },
    'organizations.delete': { role: 'owner', key: null, input: () => ({}) },
  };

  /** Organization-scoped procedures, from the router itself: built on orgProcedure, or taking an organizationId at all. */
  function organizationScopedProcedures(): string[] {
    return Object.entries(appRouter._def.procedures)
      .filter(([, procedure]) => {
        const inputs = (procedure as unknown as { _def: { inputs: unknown[] } })._def.inputs;
        return inputs.includes(orgInput) || inputs.some((i) => i instanceof z.ZodObject && 'organizationId' in i.shape);
      })
      .map(([path]) => path)
      .sort();
  }

  function call(caller: ApiCaller, path: string, input: Record<string, unknown>): Promise<string> {
    const procedure = path
      .split('.')
      .reduce<unknown>((node, part) => (node as Record<string, unknown>)[part], caller) as (
      input: unknown,
    ) => Promise<unknown>;
    return code(procedure(input));
  }

  it('the table covers every organization-scoped procedure of the router', () => {
    const scoped = organizationScopedProcedures();
    expect(scoped.length).toBeGreaterThan(30);
    expect(Object.keys(table).sort()).toEqual(scoped);
  });

  it(
    'another organization, revoked and expired keys, each role, key permission and token scope below the least: refused, nothing written; the least: served',
    { timeout: 180_000 },
    async () => {
      // Enterprise plans: this test makes a few hundred requests (a refused call still counts against the caller's own bucket).
      const owner = await account({ plan: 'enterprise' });
      const org = owner.organizationId!;
      const members = {
        admin: await account({ plan: 'enterprise' }),
        member: await account({ plan: 'enterprise' }),
        viewer: await account({ plan: 'enterprise' }),
      };
      const outsider = await account({ plan: 'enterprise' });
      const spare = await account({ plan: 'enterprise' });
      await verifyByMail(api, (await owner.as.auth.me({})).user.email);
      for (const [role, who] of Object.entries(members)) {
        await joinByInvitation(
          api,
          owner.as,
          org,
          { email: (await who.as.auth.me({})).user.email, as: who.as },
          role as 'admin' | 'member' | 'viewer',
        );
      }
      const t = await owner.as.triggers.create({ organizationId: org, ...trigger });
      const fx: Fixture = {
        org,
        triggerId: t.id,
        actionId: t.actions[0]!.id,
        owner,
        admin: members.admin,
        spareUserId: spare.userId,
      };

      await credit(db.pool, { organizationId: org, kind: 'grant', key: 'tenancy-queries', amount: '100' });
      await db.pool.query(
        `INSERT INTO checkpoints (chain_id, last_block_number, last_block_hash) VALUES ($1, 10, $2) ON CONFLICT DO NOTHING`,
        [QUERY_CHAIN, `0x${'cd'.repeat(32)}`],
      );

      const keyCaller = async (permissions: Permission[]) =>
        api.caller({
          'x-api-key': (
            await owner.as.apiKeys.create({ organizationId: org, name: permissions.join('+'), permissions })
          ).key,
        });
      const client = await owner.as.oauthClients.create({
        organizationId: org,
        name: 'partner',
        allowedScopes: ['read', 'write', 'delete', 'admin'],
      });
      const tokenCaller = async (scope: Permission) =>
        api.caller({
          authorization: `Bearer ${(await issueClientCredentialsToken(db.pool, { clientId: client.clientId, clientSecret: client.clientSecret, scope })).access_token}`,
        });
      // Per permission: an API key holding only it, and an OAuth token with only that scope.
      const grants = Object.fromEntries(
        await Promise.all(
          (['read', 'write', 'delete', 'admin'] as const).map(async (p) => [
            p,
            [
              [`key with '${p}'`, await keyCaller([p])],
              [`token with '${p}'`, await tokenCaller(p)],
            ],
          ]),
        ),
      ) as Record<Permission, [string, ApiCaller][]>;
      const revokedKey = await owner.as.apiKeys.create({
        organizationId: org,
        name: 'revoked',
        permissions: ['read', 'write', 'delete', 'admin'],
      });
      await owner.as.apiKeys.revoke({ organizationId: org, keyId: revokedKey.id, reason: 'leaked' });
      const expiredKey = await owner.as.apiKeys.create({
        organizationId: org,
        name: 'expired',
        permissions: ['read', 'write', 'delete', 'admin'],
        expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
      });
      // Expired by the test, before its first use: no waiting for a clock.
      await db.pool.query(`UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1`, [
        expiredKey.id,
      ]);
      const outsiderKey = await outsider.as.apiKeys.create({
        organizationId: outsider.organizationId!,
        name: 'theirs',
        keyType: 'admin',
        permissions: ['read', 'write', 'delete', 'admin'],
      });
      const outsiderClient = await outsider.as.oauthClients.create({
        organizationId: outsider.organizationId!,
        name: 'theirs',
        allowedScopes: ['read', 'write', 'delete', 'admin'],
      });
      const outsiderToken = await issueClientCredentialsToken(db.pool, {
        clientId: outsiderClient.clientId,
        clientSecret: outsiderClient.clientSecret,
      });
      const outsiders: [string, ApiCaller, RegExp][] = [
        ['user of another organization', outsider.as, /^(FORBIDDEN|NOT_FOUND)$/],
        [
          'admin key of another organization',
          await api.caller({ 'x-api-key': outsiderKey.key }),
          /^(FORBIDDEN|NOT_FOUND)$/,
        ],
        [
          'admin token of another organization',
          await api.caller({ authorization: `Bearer ${outsiderToken.access_token}` }),
          /^(FORBIDDEN|NOT_FOUND)$/,
        ],
        ['revoked key', await api.caller({ authorization: `Bearer ${revokedKey.key}` }), /^UNAUTHORIZED$/],
        ['expired key', await api.caller({ 'x-api-key': expiredKey.key }), /^UNAUTHORIZED$/],
      ];
      const roleCallers: Record<Role, ApiCaller> = {
        viewer: members.viewer.as,
        member: members.member.as,
        admin: members.admin.as,
        owner: owner.as,
      };

      // Inputs first (creating what they name), then every refusal, between two fingerprints of the whole database.
      const inputs = Object.fromEntries(
        await Promise.all(
          Object.entries(table).map(async ([path, entry]) => [
            path,
            { organizationId: org, ...(await entry.input(fx)) },
          ]),
        ),
      );
      const fingerprint = () =>
        databaseFingerprint(db.pool, {
          tables: ['rate_limit_counters'],
          columns: { api_keys: ['last_used_at', 'last_used_ip'] },
        });
      const before = await fingerprint();
      const results: string[] = [];
      const expected: string[] = [];
      const check = async (path: string, who: string, caller: ApiCaller, allowed: RegExp) => {
        const got = await call(caller, path, inputs[path]!);
        results.push(`${path} by ${who}: ${allowed.test(got) ? 'as expected' : got}`);
        expected.push(`${path} by ${who}: as expected`);
      };
      for (const [path, entry] of Object.entries(table)) {
        for (const [who, caller, allowed] of outsiders) await check(path, who, caller, allowed);
        for (const role of Object.keys(ROLE_RANK) as Role[]) {
          if (ROLE_RANK[role] < ROLE_RANK[entry.role]) await check(path, role, roleCallers[role], /^FORBIDDEN$/);
        }
        for (const permission of Object.keys(grants) as Permission[]) {
          const holds = entry.key !== null && (permission === entry.key || permission === 'admin');
          if (!holds) for (const [who, caller] of grants[permission]) await check(path, who, caller, /^FORBIDDEN$/);
        }
      }
      expect(results).toEqual(expected);
      expect(await fingerprint()).toEqual(before);

      // The least role, and a key and a token with the needed permission, are served (each on a fresh input).
      const served: string[] = [];
      const expectedServed: string[] = [];
      for (const [path, entry] of Object.entries(table)) {
        const callers: [string, ApiCaller][] = [
          [entry.role, roleCallers[entry.role]],
          ...(entry.key ? grants[entry.key] : []),
        ];
        for (const [who, caller] of callers) {
          served.push(
            `${path} by ${who}: ${await call(caller, path, { organizationId: org, ...(await entry.input(fx)) })}`,
          );
          expectedServed.push(`${path} by ${who}: OK`);
          await entry.undo?.(fx);
        }
      }
      expect(served).toEqual(expectedServed);
      expect((await db.pool.query('SELECT 1 FROM organizations WHERE id = $1', [org])).rowCount).toBe(0);
    },
  );
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
    expect(await code(invitee.as.organizations.transfer({ organizationId: org, userId: invitee.userId }))).toBe(
      'FORBIDDEN',
    );
    expect(await code(invitee.as.organizations.delete({ organizationId: org }))).toBe('FORBIDDEN');
    expect(await code(owner.as.organizations.transfer({ organizationId: org, userId: stranger.userId }))).toBe(
      'BAD_REQUEST',
    );
    await owner.as.organizations.transfer({ organizationId: org, userId: invitee.userId });
    const roles = Object.fromEntries(
      (await invitee.as.organizations.members({ organizationId: org })).items.map((m) => [m.userId, m.role]),
    );
    expect(roles).toEqual({ [invitee.userId]: 'owner', [owner.userId]: 'admin' });

    const t = await invitee.as.triggers.create({ organizationId: org, ...trigger });
    expect(await invitee.as.organizations.delete({ organizationId: org })).toEqual({
      deleted: true,
      triggersDeleted: 1,
    });
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
    await db.pool.query(`INSERT INTO organization_members (organization_id, user_id, role) VALUES ($1, $2, 'member')`, [
      org,
      member.userId,
    ]);
    expect(await eventually(() => member.as.triggers.list({ organizationId: org }), 'OK')).toBe('OK');
    const created = await member.as.triggers.create({ organizationId: org, ...trigger });
    await db.pool.query(`UPDATE organization_members SET role = 'viewer' WHERE organization_id = $1 AND user_id = $2`, [
      org,
      member.userId,
    ]);
    expect(
      await eventually(
        () => member.as.triggers.setEnabled({ organizationId: org, triggerId: created.id, enabled: false }),
        'FORBIDDEN',
      ),
    ).toBe('FORBIDDEN');
    expect((await db.pool.query('SELECT enabled FROM triggers WHERE id = $1', [created.id])).rows).toEqual([
      { enabled: true },
    ]);

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
    const session = await trpc.auth.register.mutate({
      username: 'http_user',
      email: 'http@example.test',
      password: 'correct horse battery',
    });
    const authed = createTRPCClient<AppRouter>({
      links: [httpLink({ url: `${api.server.url}/trpc`, headers: { authorization: `Bearer ${session.accessToken}` } })],
    });
    const created = await authed.triggers.create.mutate({ organizationId: session.organizationId!, ...trigger });

    const rest = (path: string, init: RequestInit = {}) =>
      fetch(`${api.server.url}/api/v1${path}`, {
        ...init,
        headers: { 'content-type': 'application/json', ...(init.headers as Record<string, string>) },
      });
    const login = await rest('/auth/login', {
      method: 'POST',
      body: JSON.stringify({ email: 'http@example.test', password: 'correct horse battery' }),
    });
    expect(login.status).toBe(200);
    const { accessToken } = (await login.json()) as { accessToken: string };
    const key = await rest(`/organizations/${session.organizationId}/api-keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${accessToken}` },
      body: JSON.stringify({ name: 'partner', permissions: ['read'] }),
    });
    expect(key.status).toBe(200);
    const { key: apiKey } = (await key.json()) as { key: string };
    expect(apiKey).toMatch(/^sk_live_/);
    const list = await rest(`/organizations/${session.organizationId}/triggers`, { headers: { 'x-api-key': apiKey } });
    expect(list.status).toBe(200);
    expect(list.headers.get('x-ratelimit-limit')).toBe('50'); // the free plan
    expect(((await list.json()) as { items: { id: string }[] }).items.map((t) => t.id)).toEqual([created.id]);
    // Field-level errors, never a 500.
    const invalid = await rest(`/organizations/${session.organizationId}/triggers`, {
      method: 'POST',
      headers: { authorization: `Bearer ${accessToken}` },
      body: JSON.stringify({ ...trigger, chainId: 'one' }),
    });
    expect(invalid.status).toBe(400);
    expect(JSON.stringify(await invalid.json())).toContain('chainId');
    const notUuid = await rest('/organizations/not-a-uuid/triggers', {
      headers: { authorization: `Bearer ${accessToken}` },
    });
    expect(notUuid.status, await notUuid.clone().text()).toBe(400);
    const huge = await rest(`/organizations/${session.organizationId}/triggers`, {
      method: 'POST',
      headers: { authorization: `Bearer ${accessToken}` },
      body: JSON.stringify({ ...trigger, name: 'x'.repeat(2 * 1024 * 1024) }),
    });
    expect(huge.status).toBe(413);
    expect((await rest('/me')).status).toBe(401);
    const doc = (await (await fetch(`${api.server.url}/api/v1/openapi.json`)).json()) as {
      paths: Record<string, unknown>;
    };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/auth/login', '/organizations/{organizationId}/triggers', '/events']),
    );
    expect((await fetch(`${api.server.url}/api/v1/docs`)).status).toBe(200);
    await expect(
      authed.triggers.get.query({
        organizationId: session.organizationId!,
        triggerId: '00000000-0000-4000-8000-000000000000',
      }),
    ).rejects.toBeInstanceOf(TRPCClientError);
  });

  it('rate limits: headers, 429 with Retry-After, and a key override', async () => {
    const owner = await account();
    const limited = await owner.as.apiKeys.create({
      organizationId: owner.organizationId!,
      name: 'limited',
      permissions: ['read'],
      rateLimitOverride: 3,
    });
    const call = () =>
      fetch(`${api.server.url}/api/v1/organizations/${owner.organizationId}/triggers`, {
        headers: { 'x-api-key': limited.key },
      });
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
