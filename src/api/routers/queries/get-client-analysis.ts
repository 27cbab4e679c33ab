import { payingProcedure } from '../../trpc/trpc.js';
import { toolInput } from '../../../queries/service.js';
import { getClientAnalysis } from '../../../queries/tools/get-client-analysis.js';
import { answerQuery, queryMeta, queryOutput } from './query-route.js';

export const getClientAnalysisRoute = payingProcedure('read')
  .meta(queryMeta(getClientAnalysis))
  .input(toolInput(getClientAnalysis))
  .output(queryOutput(getClientAnalysis))
  .query(({ ctx, input }) => answerQuery(ctx, getClientAnalysis, input));
