/**
 * The query tools we sell, in the order the surfaces list them. Each tool module adds itself here; the query service
 * (src/queries/service.ts) looks them up by name.
 */
import type { QueryTool } from './tool.js';
import { compareToBaseline } from './tools/compare-to-baseline.js';
import { getAgentProfile } from './tools/get-agent-profile.js';
import { getClientAnalysis } from './tools/get-client-analysis.js';
import { getFeedbacks } from './tools/get-feedbacks.js';
import { getReputationReport } from './tools/get-reputation-report.js';
import { getReputationSummary } from './tools/get-reputation-summary.js';
import { getTrend } from './tools/get-trend.js';
import { getValidationHistory } from './tools/get-validation-history.js';

export const QUERY_TOOLS: readonly QueryTool[] = [
  getAgentProfile,
  getFeedbacks,
  getReputationSummary,
  getValidationHistory,
  getTrend,
  getClientAnalysis,
  compareToBaseline,
  getReputationReport,
];
