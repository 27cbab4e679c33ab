import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { feedbackEvent, insertEvent, insertOrganization, insertUser } from '../helpers/fixtures.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => db?.drop());

/** Runs a statement that must fail with the given SQLSTATE and leave nothing behind. */
async function expectRejected(sql: string, params: unknown[], code: string) {
  await expect(db.pool.query(sql, params)).rejects.toMatchObject({ code });
}

const UNIQUE = '23505';
const CHECK = '23514';
const FK = '23503';
const NOT_NULL = '23502';

describe('accounts', () => {
  it('keeps usernames, emails and wallets unique', async () => {
    await insertUser(db.pool, { username: 'alice', email: 'alice@example.test' });
    await expect(insertUser(db.pool, { username: 'alice' })).rejects.toMatchObject({ code: UNIQUE });
    await expect(insertUser(db.pool, { email: 'alice@example.test' })).rejects.toMatchObject({ code: UNIQUE });
    const wallet = '0x' + 'ab'.repeat(20);
    await insertUser(db.pool, { wallet_address: wallet, auth_method: 'both' });
    await expect(insertUser(db.pool, { wallet_address: wallet, auth_method: 'both' })).rejects.toMatchObject({
      code: UNIQUE,
    });
  });

  it('requires the credential that the auth method names', async () => {
    await expect(insertUser(db.pool, { password_hash: null })).rejects.toMatchObject({ code: CHECK });
    await expect(insertUser(db.pool, { password_hash: null, auth_method: 'wallet' })).rejects.toMatchObject({
      code: CHECK,
    });
    await insertUser(db.pool, { password_hash: null, auth_method: 'wallet', wallet_address: '0x' + 'cd'.repeat(20) });
    await expect(insertUser(db.pool, { auth_method: 'sso' })).rejects.toMatchObject({ code: CHECK });
  });

  it('checks plans, slugs and roles, and keeps one membership per user and organization', async () => {
    const owner = await insertUser(db.pool);
    await expect(insertOrganization(db.pool, owner, { plan: 'platinum' })).rejects.toMatchObject({ code: CHECK });
    await expect(insertOrganization(db.pool, owner, { slug: 'Not A Slug' })).rejects.toMatchObject({ code: CHECK });
    const org = await insertOrganization(db.pool, owner, { slug: 'unique-slug' });
    await expect(insertOrganization(db.pool, owner, { slug: 'unique-slug' })).rejects.toMatchObject({ code: UNIQUE });
    const member = await insertUser(db.pool);
    await expectRejected(
      'INSERT INTO organization_members (organization_id, user_id, role) VALUES ($1, $2, $3)',
      [org, member, 'owner'],
      CHECK,
    );
    await db.pool.query('INSERT INTO organization_members (organization_id, user_id, role) VALUES ($1, $2, $3)', [
      org,
      member,
      'viewer',
    ]);
    await expectRejected(
      'INSERT INTO organization_members (organization_id, user_id, role) VALUES ($1, $2, $3)',
      [org, member, 'admin'],
      UNIQUE,
    );
  });

  it('refuses to delete a user who owns an organization, and cascades organization deletes', async () => {
    const owner = await insertUser(db.pool);
    const org = await insertOrganization(db.pool, owner);
    await expectRejected('DELETE FROM users WHERE id = $1', [owner], FK);
    const member = await insertUser(db.pool);
    await db.pool.query('INSERT INTO organization_members (organization_id, user_id, role) VALUES ($1, $2, $3)', [
      org,
      member,
      'member',
    ]);
    await db.pool.query(
      `INSERT INTO api_keys (organization_id, key_hash, name, prefix, environment, created_by) VALUES ($1, 'h', 'k', $2, 'live', $3)`,
      [org, `sk_live_${org.slice(0, 8)}`, owner],
    );
    const trigger = await db.pool.query<{ id: string }>(
      `INSERT INTO triggers (user_id, organization_id, name, chain_id, registry) VALUES ($1, $2, 't', 1, 'reputation') RETURNING id`,
      [owner, org],
    );
    const triggerId = trigger.rows[0]!.id;
    await db.pool.query(
      `INSERT INTO trigger_conditions (trigger_id, condition_type, field, operator, value) VALUES ($1, 'score_threshold', 'value', '<', '50')`,
      [triggerId],
    );
    await db.pool.query(
      `INSERT INTO trigger_actions (trigger_id, action_type, config) VALUES ($1, 'rest', '{"url":"https://x"}')`,
      [triggerId],
    );
    await db.pool.query(`INSERT INTO trigger_state (trigger_id, state_data) VALUES ($1, '{}')`, [triggerId]);
    await db.pool.query(`INSERT INTO credits (organization_id, balance) VALUES ($1, 10)`, [org]);

    await db.pool.query('DELETE FROM organizations WHERE id = $1', [org]);
    for (const table of ['organization_members', 'api_keys', 'triggers', 'credits']) {
      const { rowCount } = await db.pool.query(`SELECT 1 FROM ${table} WHERE organization_id = $1`, [org]);
      expect(rowCount, table).toBe(0);
    }
    for (const table of ['trigger_conditions', 'trigger_actions', 'trigger_state']) {
      const { rowCount } = await db.pool.query(`SELECT 1 FROM ${table} WHERE trigger_id = $1`, [triggerId]);
      expect(rowCount, table).toBe(0);
    }
    await db.pool.query('DELETE FROM users WHERE id = $1', [owner]);
  });

  it('keeps an agent linked to one organization per chain, and agent id 0 is valid', async () => {
    const owner = await insertUser(db.pool);
    const org = await insertOrganization(db.pool, owner);
    const link = `INSERT INTO agent_links (agent_id, chain_id, account_id, wallet_address, linked_by_signature, signature_message)
                  VALUES ($1, $2, $3, $4, 'sig', 'msg')`;
    const wallet = '0x' + '11'.repeat(20);
    await db.pool.query(link, ['0', 1, org, wallet]);
    await expectRejected(link, ['0', 1, org, wallet], UNIQUE);
    await db.pool.query(link, ['0', 10, org, wallet]);
    await expectRejected(link, ['-1', 1, org, wallet], CHECK);
    await expectRejected(link, ['5', 1, org, 'not-an-address'], CHECK);
  });
});

describe('triggers and deliveries', () => {
  it('checks registries and action types, and keeps delivery history when a trigger is deleted', async () => {
    const owner = await insertUser(db.pool);
    const org = await insertOrganization(db.pool, owner);
    await expectRejected(
      `INSERT INTO triggers (user_id, organization_id, name, chain_id, registry) VALUES ($1, $2, 't', 1, 'staking')`,
      [owner, org],
      CHECK,
    );
    await expectRejected(
      `INSERT INTO triggers (user_id, organization_id, name, chain_id, registry) VALUES ($1, gen_random_uuid(), 't', 1, 'identity')`,
      [owner],
      FK,
    );
    const { rows } = await db.pool.query<{ id: string }>(
      `INSERT INTO triggers (user_id, organization_id, name, chain_id, registry) VALUES ($1, $2, 't', 1, 'identity') RETURNING id`,
      [owner, org],
    );
    const triggerId = rows[0]!.id;
    await expectRejected(
      `INSERT INTO trigger_actions (trigger_id, action_type, config) VALUES ($1, 'email', '{}')`,
      [triggerId],
      CHECK,
    );
    await expectRejected(
      `INSERT INTO trigger_actions (trigger_id, action_type, config) VALUES ($1, 'rest', '[]')`,
      [triggerId],
      CHECK,
    );
    const result = await db.pool.query<{ id: string }>(
      `INSERT INTO action_results (job_id, trigger_id, event_id, action_type, status) VALUES ('wf/1', $1, '1-1-0', 'rest', 'success') RETURNING id`,
      [triggerId],
    );
    await expectRejected(
      `INSERT INTO action_results (job_id, action_type, status) VALUES ('j', 'rest', 'done')`,
      [],
      CHECK,
    );
    await db.pool.query('DELETE FROM triggers WHERE id = $1', [triggerId]);
    const kept = await db.pool.query('SELECT trigger_id FROM action_results WHERE id = $1', [result.rows[0]!.id]);
    expect(kept.rows).toEqual([{ trigger_id: null }]);
  });

  it('maintains updated_at on update', async () => {
    const owner = await insertUser(db.pool);
    const before = await db.pool.query<{ updated_at: Date }>('SELECT updated_at FROM users WHERE id = $1', [owner]);
    await new Promise((r) => setTimeout(r, 10));
    await db.pool.query(`UPDATE users SET username = username || '_x' WHERE id = $1`, [owner]);
    const after = await db.pool.query<{ updated_at: Date }>('SELECT updated_at FROM users WHERE id = $1', [owner]);
    expect(after.rows[0]!.updated_at.getTime()).toBeGreaterThan(before.rows[0]!.updated_at.getTime());
  });
});

describe('events', () => {
  it('stores int128 extremes with 18 decimals exactly, and agent id 0', async () => {
    const max = '170141183460469231731687303715884105727';
    const min = '-170141183460469231731687303715884105728';
    const a = await insertEvent(
      db.pool,
      feedbackEvent({ block_number: 1, value: max, value_decimals: 18, agent_id: '0' }),
    );
    const b = await insertEvent(
      db.pool,
      feedbackEvent({ block_number: 2, value: min, value_decimals: 18, agent_id: (2n ** 256n - 1n).toString() }),
    );
    const { rows } = await db.pool.query(
      'SELECT value, value_decimals, agent_id FROM events WHERE ingest_seq IN ($1, $2) ORDER BY ingest_seq',
      [a.ingest_seq, b.ingest_seq],
    );
    expect(rows).toEqual([
      { value: max, value_decimals: 18, agent_id: '0' },
      { value: min, value_decimals: 18, agent_id: (2n ** 256n - 1n).toString() },
    ]);
    await expect(
      insertEvent(db.pool, feedbackEvent({ block_number: 3, value: (2n ** 127n).toString() })),
    ).rejects.toMatchObject({ code: CHECK });
    await expect(insertEvent(db.pool, feedbackEvent({ block_number: 4, value_decimals: 19 }))).rejects.toMatchObject({
      code: CHECK,
    });
    await expect(insertEvent(db.pool, feedbackEvent({ block_number: 5, value_decimals: null }))).rejects.toMatchObject({
      code: CHECK,
    });
    await expect(insertEvent(db.pool, feedbackEvent({ block_number: 6, agent_id: '-1' }))).rejects.toMatchObject({
      code: CHECK,
    });
  });

  it('refuses rows whose id, time or type do not match their position and registry', async () => {
    await expect(insertEvent(db.pool, feedbackEvent({ block_number: 7, id: '31337-8-0' }))).rejects.toMatchObject({
      code: CHECK,
    });
    await expect(
      insertEvent(db.pool, feedbackEvent({ block_number: 8, block_time: '2020-01-01T00:00:00Z' })),
    ).rejects.toMatchObject({ code: CHECK });
    await expect(
      insertEvent(db.pool, feedbackEvent({ block_number: 9, event_type: 'Registered' })),
    ).rejects.toMatchObject({ code: CHECK });
    await expect(insertEvent(db.pool, feedbackEvent({ block_number: 10, block_hash: '0xABC' }))).rejects.toMatchObject({
      code: CHECK,
    });
    await expect(insertEvent(db.pool, feedbackEvent({ block_number: 11, registry: null }))).rejects.toMatchObject({
      code: NOT_NULL,
    });
  });

  it('is idempotent on (chain, block hash, log index) and keeps a reorged twin with the same id', async () => {
    const row = feedbackEvent({ block_number: 20 });
    await insertEvent(db.pool, row);
    await expect(insertEvent(db.pool, row)).rejects.toMatchObject({ code: UNIQUE });
    const twin = feedbackEvent({ block_number: 20, block_hash: '0x' + 'ee'.repeat(32) });
    await insertEvent(db.pool, twin);
    const { rows } = await db.pool.query('SELECT count(*)::int AS n FROM events WHERE id = $1', [row.id]);
    expect(rows[0].n).toBe(2);
  });

  it('is append-only, and the canonical view hides retracted events', async () => {
    const orphan = await insertEvent(db.pool, feedbackEvent({ block_number: 30 }));
    await expect(
      db.pool.query('UPDATE events SET tag1 = $1 WHERE ingest_seq = $2', ['x', orphan.ingest_seq]),
    ).rejects.toThrow(/append-only/);
    await expect(db.pool.query('DELETE FROM events WHERE ingest_seq = $1', [orphan.ingest_seq])).rejects.toThrow(
      /append-only/,
    );
    const visible = async () =>
      (await db.pool.query('SELECT 1 FROM canonical_events WHERE ingest_seq = $1', [orphan.ingest_seq])).rowCount;
    expect(await visible()).toBe(1);
    const retraction = await db.pool.query<{ ingest_seq: string }>(
      `INSERT INTO event_retractions (event_seq, event_id, chain_id, block_number, block_hash)
       SELECT ingest_seq, id, chain_id, block_number, block_hash FROM events WHERE ingest_seq = $1 RETURNING ingest_seq`,
      [orphan.ingest_seq],
    );
    expect(BigInt(retraction.rows[0]!.ingest_seq)).toBeGreaterThan(BigInt(orphan.ingest_seq));
    expect(await visible()).toBe(0);
    await expect(db.pool.query('DELETE FROM event_retractions')).rejects.toThrow(/append-only/);
  });
});

describe('money', () => {
  it('never lets a balance go negative and signs ledger rows by type', async () => {
    const owner = await insertUser(db.pool);
    const org = await insertOrganization(db.pool, owner);
    await db.pool.query(`INSERT INTO credits (organization_id, balance) VALUES ($1, '1.00000001')`, [org]);
    await expectRejected(
      `UPDATE credits SET balance = balance - '1.00000002' WHERE organization_id = $1`,
      [org],
      CHECK,
    );
    await db.pool.query(`UPDATE credits SET balance = balance - '1.00000001' WHERE organization_id = $1`, [org]);
    const { rows } = await db.pool.query(`SELECT balance FROM credits WHERE organization_id = $1`, [org]);
    expect(rows[0].balance).toBe('0.00000000');
    await expectRejected(`INSERT INTO credits (organization_id, currency) VALUES ($1, 'USDC')`, [org], UNIQUE);

    const tx = `INSERT INTO credit_transactions (organization_id, amount, type, reference_id, balance_after) VALUES ($1, $2, $3, $4, $5)`;
    await expectRejected(tx, [org, '5', 'usage', null, '0'], CHECK);
    await expectRejected(tx, [org, '-5', 'purchase', null, '0'], CHECK);
    await db.pool.query(tx, [org, '5', 'purchase', 'pi_123', '5']);
    // A payment is booked once.
    await expectRejected(tx, [org, '5', 'purchase', 'pi_123', '10'], UNIQUE);
    await expectRejected(
      `INSERT INTO payment_nonces (organization_id, nonce, amount, currency, status, payment_method, expires_at) VALUES ($1, 'n', 1, 'USDC', 'completed', 'x402', now())`,
      [org],
      CHECK,
    );
  });
});
