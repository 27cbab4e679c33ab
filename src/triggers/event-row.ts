/**
 * A trigger event as read from canonical_events: every field of TriggerEvent is a column of the view under the same
 * name, so a column renamed in a migration fails to typecheck here. The SQL casts numbers to float8 and exact values
 * to text, which is what TriggerEvent says.
 */
import type * as s from 'zapatos/schema';
import type { Row } from '../db/rows.js';
import type { TriggerEvent } from './engine.js';

/** Columns of canonical_events a TriggerEvent needs, numbers exact. */
export const TRIGGER_EVENT_COLUMNS = `ingest_seq::text AS ingest_seq, id, chain_id::float8 AS chain_id, block_number::float8 AS block_number,
  log_index, "timestamp"::float8 AS "timestamp", registry, event_type, agent_id::text AS agent_id, value::text AS value, value_decimals,
  tag1, tag2, tag, validator_address, file_uri, response, request_hash, abi_version`;

export type TriggerEventRow = Row<s.canonical_events.Selectable, keyof TriggerEvent, TriggerEvent>;
