/**
 * `npm run backtest -- (--trigger ID | --definition FILE) --chain N --from BLOCK --to BLOCK [--json]`: runs a trigger over
 * the stored canonical events of a block range and lists where it would have fired, with the state at that point.
 * Executes no action.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ConfigError } from '../config.js';
import { runProcess } from '../runtime.js';
import { provideDatabase, providePool } from '../services.js';
import { runBacktest } from '../triggers/backtest.js';
import { formatScaled } from '../triggers/decimal.js';

const block = z.coerce.number().int('must be a whole block number').min(0, 'must be >= 0');
const argsSchema = z
  .object({
    trigger: z.uuid('must be a trigger id').optional(),
    definition: z.string().min(1).optional(),
    chain: z.coerce.number({ message: 'is required' }).int().positive('must be a chain id'),
    from: block,
    to: block,
    json: z.boolean().default(false),
  })
  .refine((a) => Boolean(a.trigger) !== Boolean(a.definition), {
    message: 'give exactly one of --trigger and --definition',
    path: ['trigger'],
  })
  .refine((a) => a.to >= a.from, { message: 'must not be below --from', path: ['to'] });

await runProcess(
  'erc8004-backtest',
  async (ctx) => {
    const { values } = parseArgs({
      options: {
        trigger: { type: 'string' },
        definition: { type: 'string' },
        chain: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        json: { type: 'boolean' },
      },
      strict: true,
    });
    const parsed = argsSchema.safeParse(values);
    if (!parsed.success) throw new ConfigError(parsed.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`));
    const args = parsed.data;
    let definition;
    if (args.definition) {
      try {
        definition = JSON.parse(readFileSync(args.definition, 'utf8'));
      } catch (err) {
        throw new ConfigError([`--definition: cannot read ${args.definition} as JSON (${(err as Error).message})`]);
      }
    }
    const databaseUrl = await provideDatabase(ctx, { allowEmbedded: true });
    const pool = providePool(ctx, databaseUrl, 'erc8004-backtest');
    const result = await runBacktest(pool, {
      triggerId: args.trigger,
      definition,
      chainId: args.chain,
      fromBlock: args.from,
      toBlock: args.to,
    });
    if (args.json) {
      process.stdout.write(`${JSON.stringify(result, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`);
      return;
    }
    const out = process.stdout;
    out.write(`backtest "${result.definition.name}" on chain ${args.chain}, blocks ${args.from}..${args.to}\n`);
    out.write(
      `${result.eventsScanned} events scanned, ${result.eligibleEvents} eligible, ${result.firings.length} firings` +
        ` (held back: ${result.suppressed.cooldown} by cooldown, ${result.suppressed.hysteresis} by hysteresis)\n`,
    );
    for (const f of result.firings) {
      const e = f.event;
      const value =
        e.value !== null && e.value_decimals !== null
          ? ` value ${formatScaled({ int: BigInt(e.value), decimals: e.value_decimals })}`
          : '';
      const metrics = Object.entries(f.values ?? {})
        .filter(([, v]) => v.metric !== undefined)
        .map(([k, v]) => `${k}=${typeof v.metric === 'number' ? Number(v.metric.toFixed(6)) : v.metric}`)
        .join(' ');
      out.write(
        `${new Date(f.at * 1000).toISOString()}  block ${e.block_number}  agent ${f.agentKey}  ${f.kind === 'absence' ? 'no response to' : e.event_type}${value}${metrics ? `  ${metrics}` : ''}\n`,
      );
    }
  },
  { oneShot: true },
);
