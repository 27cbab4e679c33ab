/** A UTC time window [from, to) as query parameters: ISO 8601 dates or instants, strings so they key caches exactly. */
import { z } from 'zod';
import { QueryError } from './errors.js';

const instant = z.union([z.iso.date(), z.iso.datetime({ offset: true })]);

export const timeWindowParams = {
  /** Inclusive start, e.g. 2026-01-01 or 2026-01-01T12:00:00Z. */
  from: instant.optional(),
  /** Exclusive end. */
  to: instant.optional(),
};

export interface TimeWindow {
  from?: Date;
  to?: Date;
}

/** Parses the window; refuses one that does not end after it starts. */
export function parseTimeWindow(params: { from?: string; to?: string }): TimeWindow {
  const from = params.from === undefined ? undefined : new Date(params.from);
  const to = params.to === undefined ? undefined : new Date(params.to);
  if (from && to && to <= from) throw new QueryError('invalid_params', 'the window must end after it starts');
  return { from, to };
}
