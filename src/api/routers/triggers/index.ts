import { router } from '../../trpc/trpc.js';
import { backtestTriggerRoute } from './backtest-trigger.js';
import { createTriggerRoute } from './create-trigger.js';
import { deleteTriggerRoute } from './delete-trigger.js';
import { getTriggerStateRoute } from './get-trigger-state.js';
import { getTriggerRoute } from './get-trigger.js';
import { listTriggersRoute } from './list-triggers.js';
import { setTriggerEnabledRoute } from './set-trigger-enabled.js';
import { testTriggerRoute } from './test-trigger.js';
import { updateTriggerRoute } from './update-trigger.js';

export const triggersRouter = router({
  create: createTriggerRoute,
  list: listTriggersRoute,
  get: getTriggerRoute,
  update: updateTriggerRoute,
  setEnabled: setTriggerEnabledRoute,
  delete: deleteTriggerRoute,
  state: getTriggerStateRoute,
  test: testTriggerRoute,
  backtest: backtestTriggerRoute,
});
