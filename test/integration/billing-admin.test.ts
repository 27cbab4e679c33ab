/**
 * The operator's billing command (src/bin/billing-admin.ts), run as a child process against the test database: a
 * grant goes into the ledger once per key, a plan change is recorded in plan_changes, and bad arguments are refused
 * with a readable message, changing nothing.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getAccount } from '../../src/billing/ledger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { insertOrganization, insertUser } from '../helpers/fixtures.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

let db: TestDatabase;
let organizationId: string;

beforeAll(async () => {
  db = await createTestDatabase();
  organizationId = await insertOrganization(db.pool, await insertUser(db.pool));
});
afterAll(async () => db?.drop());

/** Runs the command to its end: exit code, the JSON it printed on stdout (if any), and stderr. */
function billing(...args: string[]): Promise<{ code: number | null; result: unknown; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/bin/billing-admin.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: db.url, LOG_FORMAT: 'json', LOG_LEVEL: 'warn', MIGRATE_ON_START: 'false' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) =>
    child.once('exit', (code) =>
      resolve({ code, result: stdout.trim() ? (JSON.parse(stdout.trim()) as unknown) : undefined, stderr }),
    ),
  );
}

const grants = async () =>
  (
    await db.pool.query(
      `SELECT type, amount::text, description, idempotency_key FROM credit_transactions WHERE organization_id = $1 ORDER BY seq`,
      [organizationId],
    )
  ).rows;

describe('npm run billing', () => {
  it('grants credits through the ledger, once per key, and prints the key it generated', async () => {
    const first = await billing('grant', '--org', organizationId, '--amount', '10.5', '--reason', 'launch promo');
    expect(first).toMatchObject({ code: 0, result: { granted: '10.50000000', replayed: false } });
    const key = (first.result as { key: string }).key;
    expect(key).toMatch(/^operator-grant-[0-9a-f-]{36}$/);
    // The same key again: the original grant answers, nothing moves.
    const again = await billing(
      'grant',
      '--org',
      organizationId,
      '--amount',
      '10.5',
      '--reason',
      'retry',
      '--key',
      key,
    );
    expect(again).toMatchObject({ code: 0, result: { granted: '10.50000000', key, replayed: true } });
    expect(await grants()).toEqual([
      { type: 'grant', amount: '10.50000000', description: 'launch promo', idempotency_key: key },
    ]);
    expect((await getAccount(db.pool, organizationId)).balance).toBe('10.50000000');
  });

  it('sets a plan through setOrganizationPlan, recorded with the reason', async () => {
    const run = await billing('set-plan', '--org', organizationId, '--plan', 'pro', '--reason', 'contract #42');
    expect(run).toMatchObject({ code: 0, result: { plan: 'pro', previous: 'free', changed: true } });
    const { rows } = await db.pool.query(
      'SELECT previous_plan, plan, source, reference FROM plan_changes WHERE organization_id = $1',
      [organizationId],
    );
    expect(rows).toEqual([{ previous_plan: 'free', plan: 'pro', source: 'operator', reference: 'contract #42' }]);
  });

  it('refuses bad arguments with a readable message and changes nothing', async () => {
    const before = { ledger: await grants(), plan: (await db.pool.query('SELECT plan FROM organizations')).rows };
    const cases: [string[], RegExp][] = [
      [
        ['grant', '--org', organizationId, '--amount', '1.123456789', '--reason', 'too precise'],
        /at most 12 integer digits and 8 decimals/,
      ],
      [['grant', '--org', organizationId, '--amount=-5', '--reason', 'negative'], /an amount is a decimal string/],
      [['grant', '--org', organizationId, '--reason', 'no amount'], /--amount: is required/],
      [['grant', '--org', 'acme', '--amount', '1', '--reason', 'bad org'], /--org: must be an organization id/],
      [
        ['grant', '--org', '00000000-0000-4000-8000-000000000000', '--amount', '1', '--reason', 'no such org'],
        /--org: no organization/,
      ],
      [
        ['set-plan', '--org', organizationId, '--plan', 'gold', '--reason', 'typo'],
        /--plan: must be one of free, starter, pro, enterprise/,
      ],
      [['set-plan', '--org', organizationId, '--plan', 'free'], /--reason: is required/],
      [['refund', '--org', organizationId], /unknown command "refund"/],
      [['grant', '--org', organizationId, '--amount', '1', '--reason', 'x y z', '--bogus'], /Unknown option '--bogus'/],
    ];
    for (const [args, message] of cases) {
      const run = await billing(...args);
      expect(run.code, args.join(' ')).toBe(1);
      expect(run.stderr, args.join(' ')).toMatch(message);
      expect(run.result).toBeUndefined();
    }
    expect({ ledger: await grants(), plan: (await db.pool.query('SELECT plan FROM organizations')).rows }).toEqual(
      before,
    );
  });
});
