/**
 * A trigger event as read from canonical_events (TRIGGER_EVENT_COLUMNS): every field of TriggerEvent is a column of
 * the view under the same name, so a column renamed in a migration fails to typecheck here. The SQL casts numbers to
 * float8 and exact values to text, which is what TriggerEvent says.
 */
import type * as s from 'zapatos/schema';
import type { Row } from '../db/rows.js';
import type { TriggerEvent } from './engine.js';

export type TriggerEventRow = Row<s.canonical_events.Selectable, keyof TriggerEvent, TriggerEvent>;
