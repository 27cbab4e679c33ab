/**
 * `npm run migrate -- up [N]` / `npm run migrate -- down [N]` (down defaults to one step, up to all).
 * Uses DATABASE_URL, or the embedded cluster under DATA_DIR when it is unset.
 */
import { runProcess } from '../runtime.js';
import { migrate } from '../db/migrate.js';
import { provideDatabase } from '../services.js';

const [direction = 'up', countArg] = process.argv.slice(2);

await runProcess(
  'erc8004-migrate',
  async (ctx) => {
    if (direction !== 'up' && direction !== 'down') {
      throw new Error(`unknown direction '${direction}': use 'up' or 'down'`);
    }
    const count = countArg === undefined ? undefined : Number(countArg);
    if (count !== undefined && (!Number.isInteger(count) || count < 1)) {
      throw new Error(`count must be a positive whole number, got '${countArg}'`);
    }
    // Only the explicit run below migrates, in the direction asked for.
    ctx.config.database.migrateOnStart = false;
    const databaseUrl = await provideDatabase(ctx, { allowEmbedded: true });
    const ran = await migrate({ databaseUrl, direction, count, logger: ctx.logger });
    ctx.logger.info({ direction, ran }, ran.length ? `${direction}: ${ran.join(', ')}` : 'nothing to migrate');
  },
  { oneShot: true },
);
