/**
 * `npm run backfill -- --chain N --from BLOCK [--to BLOCK]`: writes the registry events of a block range of a configured
 * chain (CHAINS / CHAINS_FILE), with a progress bar. Safe to run next to the live indexer and to re-run after a crash.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ConfigError } from '../config.js';
import { runProcess } from '../runtime.js';
import { provideDatabase, providePool } from '../services.js';
import { formatProgress, runBackfill, type BackfillProgress } from '../indexer/backfill.js';

const blockArg = z.coerce.number().int('must be a whole block number').min(0, 'must be >= 0');
const argsSchema = z.object({
  chain: z.coerce.number({ message: '--chain is required' }).int().positive('must be a chain id'),
  from: blockArg,
  to: blockArg.optional(),
});

await runProcess(
  'erc8004-backfill',
  async (ctx) => {
    const { values } = parseArgs({
      options: { chain: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' } },
      strict: true,
    });
    const parsed = argsSchema.safeParse(values);
    if (!parsed.success) {
      throw new ConfigError(parsed.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`));
    }
    const { chain: chainId, from, to } = parsed.data;
    const chain = ctx.config.chains.find((c) => c.chainId === chainId);
    if (!chain) {
      const known = ctx.config.chains.map((c) => c.chainId).join(', ') || 'none';
      throw new ConfigError([
        `--chain: chain ${chainId} is not configured in CHAINS / CHAINS_FILE (configured: ${known})`,
      ]);
    }
    const databaseUrl = await provideDatabase(ctx, { allowEmbedded: true });
    const pool = providePool(ctx, databaseUrl, 'erc8004-backfill');
    const controller = new AbortController();
    ctx.onShutdown('backfill', async () => controller.abort());
    const tty = process.stderr.isTTY;
    let lastLine = 0;
    const show = (p: BackfillProgress, final = false) => {
      if (tty) process.stderr.write(`\r${formatProgress(p)}${final ? '\n' : ''}`);
      else if (final || performance.now() - lastLine > 2_000) {
        lastLine = performance.now();
        process.stderr.write(`${formatProgress(p)}\n`);
      }
    };
    const result = await runBackfill({
      chain,
      pool,
      logger: ctx.logger,
      from,
      to,
      signal: controller.signal,
      onProgress: (p) => show(p),
    });
    show(result, true);
  },
  { oneShot: true },
);
