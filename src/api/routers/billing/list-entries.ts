import { orgProcedure } from '../../trpc/trpc.js';
import { listEntries } from '../../../billing/ledger.js';
import { listEntriesMeta, ZListEntriesRequest, ZListEntriesResponse } from './list-entries.types.js';
import { entryToOutput } from './schema.js';

export const listEntriesRoute = orgProcedure('read')
  .meta(listEntriesMeta)
  .input(ZListEntriesRequest)
  .output(ZListEntriesResponse)
  .query(async ({ ctx, input }) => {
    const page = await listEntries(ctx.pool, input.organizationId, {
      kinds: input.kind ? [input.kind] : undefined,
      from: input.from ? new Date(input.from) : undefined,
      to: input.to ? new Date(input.to) : undefined,
      limit: input.limit,
      cursor: input.cursor,
    });
    return { ...page, entries: page.entries.map(entryToOutput) };
  });
