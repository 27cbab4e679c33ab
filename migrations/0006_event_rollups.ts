/**
 * Hourly event statistics and event retention, with or without TimescaleDB.
 *
 * With TimescaleDB available: `events` becomes a hypertable on block_time, `events_hourly` a continuous aggregate with a
 * refresh policy, and a retention policy drops chunks older than 365 days.
 * Without it: `events` stays a plain table, `events_hourly` a plain materialized view with a unique index (so that it
 * can refresh CONCURRENTLY), and `apply_event_retention()` is the job that the maintenance schedule runs.
 * Either way the same columns and names exist, so application code does not care which it got.
 *
 * This migration runs outside a transaction: TimescaleDB refuses to create a continuous aggregate inside one.
 */
import type { MigrationBuilder } from 'node-pg-migrate';

async function timescaleAvailable(pgm: MigrationBuilder): Promise<boolean> {
  if (process.env.TIMESCALEDB === 'off') return false;
  const rows = await pgm.db.select(`SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'`);
  return rows.length > 0;
}

export async function up(pgm: MigrationBuilder): Promise<void> {
  pgm.noTransaction();
  const plainRetention = `
    CREATE OR REPLACE FUNCTION apply_event_retention(retention INTERVAL DEFAULT INTERVAL '365 days')
    RETURNS BIGINT AS $$
    DECLARE
      removed BIGINT := 0;
      is_hypertable BOOLEAN := false;
    BEGIN
      -- Dynamic SQL: without TimescaleDB its catalog does not exist, and a static reference would not even plan.
      IF to_regclass('timescaledb_information.hypertables') IS NOT NULL THEN
        EXECUTE $q$SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = 'events')$q$ INTO is_hypertable;
      END IF;
      IF is_hypertable THEN
        RETURN 0; -- the TimescaleDB retention policy does this job
      END IF;
      -- Retention is the one sanctioned removal from the append-only log.
      ALTER TABLE events DISABLE TRIGGER events_append_only;
      DELETE FROM events WHERE block_time < NOW() - retention;
      GET DIAGNOSTICS removed = ROW_COUNT;
      ALTER TABLE events ENABLE TRIGGER events_append_only;
      RETURN removed;
    END;
    $$ LANGUAGE plpgsql;`;

  if (await timescaleAvailable(pgm)) {
    await pgm.db.query('CREATE EXTENSION IF NOT EXISTS timescaledb');
    await pgm.db.query(
      `SELECT create_hypertable('events', by_range('block_time', INTERVAL '7 days'), migrate_data => true)`,
    );
    await pgm.db.query(`
      CREATE MATERIALIZED VIEW events_hourly
      WITH (timescaledb.continuous) AS
      SELECT time_bucket('1 hour', block_time) AS hour, chain_id, registry, event_type, COUNT(*) AS event_count
      FROM events
      GROUP BY hour, chain_id, registry, event_type
      WITH NO DATA`);
    await pgm.db.query(`
      SELECT add_continuous_aggregate_policy('events_hourly',
        start_offset => INTERVAL '3 hours', end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour')`);
    await pgm.db.query(`SELECT add_retention_policy('events', INTERVAL '365 days')`);
  } else {
    await pgm.db.query(`
      CREATE MATERIALIZED VIEW events_hourly AS
      SELECT date_trunc('hour', block_time) AS hour, chain_id, registry, event_type, COUNT(*) AS event_count
      FROM events
      GROUP BY 1, 2, 3, 4
      WITH NO DATA`);
    await pgm.db.query(
      'CREATE UNIQUE INDEX idx_events_hourly_key ON events_hourly(hour, chain_id, registry, event_type)',
    );
  }
  await pgm.db.query(plainRetention);

  // One entry point for the maintenance schedule, whichever deployment this is.
  await pgm.db.query(`
    CREATE OR REPLACE FUNCTION refresh_reporting_views()
    RETURNS VOID AS $$
    BEGIN
      IF EXISTS (SELECT 1 FROM pg_matviews WHERE matviewname = 'events_hourly') THEN
        IF EXISTS (SELECT 1 FROM pg_matviews WHERE matviewname = 'events_hourly' AND ispopulated) THEN
          REFRESH MATERIALIZED VIEW CONCURRENTLY events_hourly;
        ELSE
          REFRESH MATERIALIZED VIEW events_hourly;
        END IF;
      END IF;
      IF EXISTS (SELECT 1 FROM pg_matviews WHERE matviewname = 'action_metrics_hourly' AND ispopulated) THEN
        REFRESH MATERIALIZED VIEW CONCURRENTLY action_metrics_hourly;
      ELSE
        REFRESH MATERIALIZED VIEW action_metrics_hourly;
      END IF;
    END;
    $$ LANGUAGE plpgsql`);
}

export async function down(pgm: MigrationBuilder): Promise<void> {
  pgm.noTransaction();
  await pgm.db.query('DROP FUNCTION IF EXISTS refresh_reporting_views()');
  await pgm.db.query('DROP FUNCTION IF EXISTS apply_event_retention(INTERVAL)');
  await pgm.db.query('DROP MATERIALIZED VIEW IF EXISTS events_hourly');
  // A hypertable cannot be turned back into a plain table in place; 0003's down drops events entirely.
}
