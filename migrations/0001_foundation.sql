-- Up Migration
-- Shared building blocks. gen_random_uuid() is built into Postgres 13+; pgcrypto stays for digest()/hmac().
CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE OR REPLACE FUNCTION update_updated_at_column()
RETURNS TRIGGER AS $$
BEGIN
    NEW.updated_at = NOW();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

-- Down Migration
DROP FUNCTION IF EXISTS update_updated_at_column();
-- pgcrypto is left installed: other schemas in the same database may use it.
