import { router } from '../../trpc/trpc.js';
import { listToolsRoute } from './list-tools.js';

export const queriesRouter = router({
  tools: listToolsRoute,
});
