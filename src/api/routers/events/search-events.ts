import { authedProcedure } from '../../trpc/trpc.js';
import { searchEvents } from '../../../events/search-events.js';
import { searchEventsMeta, ZSearchEventsRequest, ZSearchEventsResponse } from './search-events.types.js';

export const searchEventsRoute = authedProcedure
  .meta(searchEventsMeta)
  .input(ZSearchEventsRequest)
  .output(ZSearchEventsResponse)
  .query(({ ctx, input }) => searchEvents(ctx.pool, input));
