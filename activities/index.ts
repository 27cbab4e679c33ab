import type { Pool } from 'pg';
import type { Logger } from '../src/logger.js';
import { createTriggerActivities } from './triggers.js';
import { createDeliveryActivities, type DeliveryDeps } from './deliveries.js';
import { createMaintenanceActivities } from './maintenance.js';
import { createA2AActivities } from './a2a.js';
import type { QueryService } from '../src/queries/service.js';

export interface ActivityDeps {
  pool: Pool;
  logger: Logger;
  /** What action delivery needs beyond the pool and the logger. */
  delivery: Omit<DeliveryDeps, 'pool' | 'logger'>;
  /** EVENT_RETENTION_DAYS; 0 or absent keeps registry events forever. */
  eventRetentionDays?: number;
  /** Answers the A2A tasks' queries. */
  queries: QueryService;
}

export interface DatabaseCheck {
  ok: boolean;
  latencyMs: number;
  serverVersion?: string;
  error?: string;
}

/** Builds the worker's activities around their dependencies (one instance per worker). */
export function createActivities({ pool, logger, delivery, eventRetentionDays, queries }: ActivityDeps) {
  const log = logger.child({ component: 'activities' });
  return {
    ...createTriggerActivities({ pool, logger }),
    ...createDeliveryActivities({ pool, logger, ...delivery }),
    ...createMaintenanceActivities({ pool, logger, eventRetentionDays }),
    ...createA2AActivities({ pool, logger, queries, temporal: delivery.temporal, taskQueue: delivery.taskQueue }),
    /** Proves that a worker is polling and can reach Postgres. */
    async checkDatabase(): Promise<DatabaseCheck> {
      const started = performance.now();
      try {
        const { rows } = await pool.query<{ server_version: string }>('SHOW server_version');
        return { ok: true, latencyMs: Math.round(performance.now() - started), serverVersion: rows[0]?.server_version };
      } catch (err) {
        log.warn({ err }, 'database check failed');
        return { ok: false, latencyMs: Math.round(performance.now() - started), error: (err as Error).message };
      }
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
