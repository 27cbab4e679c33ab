import { router } from '../../trpc/trpc.js';
import { getAgentProfileRoute } from './get-agent-profile.js';
import { getFeedbacksRoute } from './get-feedbacks.js';
import { getReputationSummaryRoute } from './get-reputation-summary.js';
import { getValidationHistoryRoute } from './get-validation-history.js';
import { listToolsRoute } from './list-tools.js';

export const queriesRouter = router({
  tools: listToolsRoute,
  getAgentProfile: getAgentProfileRoute,
  getFeedbacks: getFeedbacksRoute,
  getReputationSummary: getReputationSummaryRoute,
  getValidationHistory: getValidationHistoryRoute,
});
