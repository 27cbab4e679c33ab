import { router } from '../../trpc/trpc.js';
import { compareToBaselineRoute } from './compare-to-baseline.js';
import { getAgentProfileRoute } from './get-agent-profile.js';
import { getClientAnalysisRoute } from './get-client-analysis.js';
import { getFeedbacksRoute } from './get-feedbacks.js';
import { getReputationReportRoute } from './get-reputation-report.js';
import { getReputationSummaryRoute } from './get-reputation-summary.js';
import { getTrendRoute } from './get-trend.js';
import { getValidationHistoryRoute } from './get-validation-history.js';
import { listToolsRoute } from './list-tools.js';

export const queriesRouter = router({
  tools: listToolsRoute,
  getAgentProfile: getAgentProfileRoute,
  getFeedbacks: getFeedbacksRoute,
  getReputationSummary: getReputationSummaryRoute,
  getValidationHistory: getValidationHistoryRoute,
  getTrend: getTrendRoute,
  getClientAnalysis: getClientAnalysisRoute,
  compareToBaseline: compareToBaselineRoute,
  getReputationReport: getReputationReportRoute,
});
