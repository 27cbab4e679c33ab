import { router } from '../../trpc/trpc.js';
import { listBreakersRoute, resetBreakerRoute } from './breakers.js';
import { listDeliveriesRoute } from './list-deliveries.js';
import { listDeliveryAttemptsRoute } from './list-delivery-attempts.js';
import { replayDeliveriesRoute } from './replay-deliveries.js';

export const deliveriesRouter = router({
  list: listDeliveriesRoute,
  attempts: listDeliveryAttemptsRoute,
  replay: replayDeliveriesRoute,
  breakers: listBreakersRoute,
  resetBreaker: resetBreakerRoute,
});
