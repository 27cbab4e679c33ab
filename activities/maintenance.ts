/** Periodic housekeeping, run by the `maintenance` Temporal Schedule (see src/worker/schedules.ts). */
import type pg from 'pg';
import type { Logger } from '../src/logger.js';
import { pruneLoginFailures } from '../src/auth/accounts.js';
import { pruneUsedNonces } from '../src/auth/siwe.js';
import { pruneRefreshTokens } from '../src/auth/tokens.js';
import { RateLimiter } from '../src/rate-limit.js';
import { releaseExpiredHolds } from '../src/billing/ledger.js';
import { purgeExpiredAnswers } from '../src/queries/cache.js';

export interface MaintenanceReport {
  actionResultsRemoved: number;
  eventsRemoved: number;
  usedNoncesRemoved: number;
  refreshTokensRemoved: number;
  loginFailuresRemoved: number;
  rateLimitWindowsRemoved: number;
  /** Credit holds past their expiry, given back to their accounts. */
  expiredHoldsReleased: number;
  /** Query answers past their cache lifetime. */
  cachedAnswersRemoved: number;
}

export interface MaintenanceDeps {
  pool: pg.Pool;
  logger: Logger;
  /** Days of block time that registry events are kept (EVENT_RETENTION_DAYS); 0 or absent keeps them forever. */
  eventRetentionDays?: number;
}

export function createMaintenanceActivities({ pool, logger, eventRetentionDays = 0 }: MaintenanceDeps) {
  const log = logger.child({ component: 'maintenance' });
  const one = async (sql: string, values: unknown[] = []) =>
    Number((await pool.query<{ n: string }>(sql, values)).rows[0]?.n ?? 0);
  return {
    /** Refreshes the reporting views (events_hourly without TimescaleDB, action_metrics_hourly). */
    async refreshReportingViews(): Promise<void> {
      await pool.query('SELECT refresh_reporting_views()');
    },
    /** Event retention (only when configured) and pruning of expired bookkeeping; returns what was removed. */
    async applyRetention(): Promise<MaintenanceReport> {
      const report: MaintenanceReport = {
        actionResultsRemoved: await one('SELECT cleanup_old_action_results() AS n'),
        // NULL keeps every event: registry history is the reputation record.
        eventsRemoved: await one('SELECT apply_event_retention(make_interval(days => $1::int)) AS n', [
          eventRetentionDays > 0 ? eventRetentionDays : null,
        ]),
        usedNoncesRemoved: await pruneUsedNonces(pool),
        refreshTokensRemoved: await pruneRefreshTokens(pool),
        loginFailuresRemoved: await pruneLoginFailures(pool),
        // The longest window is an hour: anything older than two is finished.
        rateLimitWindowsRemoved: await new RateLimiter(pool).cleanup(new Date(Date.now() - 2 * 3_600_000)),
        expiredHoldsReleased: await releaseExpiredHolds(pool),
        cachedAnswersRemoved: await purgeExpiredAnswers(pool),
      };
      log.info(report, 'maintenance done');
      return report;
    },
  };
}
