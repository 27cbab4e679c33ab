-- Up Migration
-- Rate-limit counters are hot (one upsert per API request on a few rows) and disposable: an unlogged table skips the
-- WAL flush on every commit. After a crash the counters start from zero, which only means a fresh window for everyone.
ALTER TABLE rate_limit_counters SET UNLOGGED;

-- Down Migration
ALTER TABLE rate_limit_counters SET LOGGED;
