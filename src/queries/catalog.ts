/** The query tools we sell, in the order the surfaces list them. Each tool module adds itself here. */
import { compareToBaseline } from './compare-to-baseline.js';
import { QueryError } from './errors.js';
import { getClientAnalysis } from './get-client-analysis.js';
import { getTrend } from './get-trend.js';
import type { QueryTool, QueryToolName } from './tool.js';

export const QUERY_TOOLS: readonly QueryTool[] = [getTrend, getClientAnalysis, compareToBaseline];

const byName = new Map<string, QueryTool>(QUERY_TOOLS.map((t) => [t.name, t]));

export function queryTool(name: string): QueryTool {
  const tool = byName.get(name);
  if (!tool) throw new QueryError('unknown_tool', `no query tool named ${JSON.stringify(name)}`);
  return tool;
}

export function isQueryToolName(name: string): name is QueryToolName {
  return byName.has(name);
}
