/** The query tools we sell, in the order the surfaces list them. Each tool module adds itself here. */
import { QueryError } from './errors.js';
import type { QueryTool, QueryToolName } from './tool.js';
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

const byName = new Map<string, QueryTool>(QUERY_TOOLS.map((t) => [t.name, t]));

export function queryTool(name: string): QueryTool {
  const tool = byName.get(name);
  if (!tool) throw new QueryError('unknown_tool', `no query tool named ${JSON.stringify(name)}`);
  return tool;
}

export function isQueryToolName(name: string): name is QueryToolName {
  return byName.has(name);
}
