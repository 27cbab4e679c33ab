import { z } from 'zod';
import { ENTRY_KINDS, MAX_PAGE_SIZE } from '../../../billing/ledger.js';
import type { ApiMeta } from '../../trpc/trpc.js';
import { entryOutput } from './schema.js';

export const listEntriesMeta: ApiMeta = {
  openapi: {
    method: 'GET',
    path: '/organizations/{organizationId}/billing/entries',
    tags: ['Billing'],
    summary: 'The credits ledger, newest first, in pages (pass `nextCursor` as `cursor`); filter by kind and time',
    protect: true,
  },
};
export const ZListEntriesRequest = z.object({
  kind: z.enum(ENTRY_KINDS).optional(),
  from: z.iso.datetime({ offset: true }).optional().describe('Entries created at or after'),
  to: z.iso.datetime({ offset: true }).optional().describe('Entries created before'),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(50),
  // A position in the ledger (bigint); 18 digits keep any value inside it.
  cursor: z
    .string()
    .regex(/^[1-9]\d{0,17}$/, 'must be a nextCursor this listing returned')
    .optional(),
});
export const ZListEntriesResponse = z.object({
  entries: z.array(entryOutput),
  nextCursor: z.string().optional().describe('Absent on the last page'),
});
