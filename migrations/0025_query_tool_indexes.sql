-- Up Migration
-- The query tools (src/queries) read one agent's events of one type at or below a block: feedback, revocations and
-- responses (src/queries/feedback-set.ts), validations, identity. idx_events_agent_id (chain, agent, block) leaves
-- every event type of the agent to filter; with the type in the key a summary reads only its rows (§B.6 found ≈16 ms on
-- 3.5 k events without). Per-client questions (a client's other agents) look clients up within a chain.
CREATE INDEX idx_events_agent_type_block ON events(chain_id, agent_id, event_type, block_number)
    WHERE agent_id IS NOT NULL;
CREATE INDEX idx_events_chain_client ON events(chain_id, client_address) WHERE client_address IS NOT NULL;

-- Down Migration
DROP INDEX IF EXISTS idx_events_chain_client;
DROP INDEX IF EXISTS idx_events_agent_type_block;
