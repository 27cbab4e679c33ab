import { router } from '../../trpc/trpc.js';
import { searchEventsRoute } from './search-events.js';

export const eventsRouter = router({ search: searchEventsRoute });
