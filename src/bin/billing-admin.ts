/**
 * The operator's billing command, for what no payment did:
 *   npm run billing -- grant --org <id> --amount 10.5 --reason "..." [--key <idempotency key>]
 *   npm run billing -- set-plan --org <id> --plan pro --reason "..."
 * A grant goes through the ledger (kind 'grant', keyed: re-running with the same --key grants once; without one a key
 * is generated and printed); a plan change through setOrganizationPlan (recorded in plan_changes, source 'operator',
 * the reason as its reference). Bad arguments are refused before anything changes. The outcome is printed as JSON.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { credit } from '../billing/ledger.js';
import { PLANS } from '../billing/plans.js';
import { ConfigError } from '../config.js';
import { organizationPlan, setOrganizationPlan } from '../organizations/plan.js';
import { runProcess } from '../runtime.js';
import { provideDatabase, providePool } from '../services.js';

const common = {
  org: z.string({ message: 'is required' }).uuid('must be an organization id (a UUID)'),
  reason: z.string({ message: 'is required (it is recorded)' }).trim().min(3, 'must say why, in a few words').max(500),
};
const commandSchema = z.discriminatedUnion('command', [
  z.object({
    command: z.literal('grant'),
    ...common,
    amount: z.string({ message: 'is required, a decimal string such as 10.5' }),
    key: z.string().min(1).max(200).optional(),
  }),
  z.object({
    command: z.literal('set-plan'),
    ...common,
    plan: z.enum(PLANS, { message: `must be one of ${PLANS.join(', ')}` }),
  }),
]);

const USAGE =
  'usage: npm run billing -- grant --org <id> --amount <decimal> --reason "<why>" [--key <key>]\n' +
  '       npm run billing -- set-plan --org <id> --plan <free|starter|pro|enterprise> --reason "<why>"';

function parseCommand() {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        org: { type: 'string' },
        amount: { type: 'string' },
        reason: { type: 'string' },
        key: { type: 'string' },
        plan: { type: 'string' },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new ConfigError([(err as Error).message, USAGE]);
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) throw new ConfigError(['name one command: grant or set-plan', USAGE]);
  const result = commandSchema.safeParse({ command: positionals[0], ...values });
  if (!result.success) {
    throw new ConfigError([
      ...result.error.issues.map((i) =>
        i.path[0] === 'command'
          ? `unknown command ${JSON.stringify(positionals[0])}`
          : `--${i.path.join('.')}: ${i.message}`,
      ),
      USAGE,
    ]);
  }
  return result.data;
}

await runProcess(
  'erc8004-billing',
  async (ctx) => {
    const command = parseCommand();
    const databaseUrl = await provideDatabase(ctx, { allowEmbedded: true });
    const pool = providePool(ctx, databaseUrl, 'erc8004-billing-admin');
    if ((await organizationPlan(pool, command.org)) === undefined) {
      throw new ConfigError([`--org: no organization ${command.org}`]);
    }
    let outcome: unknown;
    if (command.command === 'grant') {
      const key = command.key ?? `operator-grant-${randomUUID()}`;
      const { entry, replayed } = await credit(pool, {
        organizationId: command.org,
        kind: 'grant',
        key,
        amount: command.amount,
        description: command.reason,
      });
      outcome = { granted: entry.amount, key, replayed, entry };
    } else {
      const { changed, previous } = await setOrganizationPlan(pool, command.org, command.plan, {
        source: 'operator',
        ref: command.reason,
      });
      outcome = { plan: command.plan, previous, changed };
    }
    ctx.logger.info({ command: command.command, organizationId: command.org, outcome }, 'billing command done');
    process.stdout.write(`${JSON.stringify(outcome)}\n`);
  },
  { oneShot: true },
);
