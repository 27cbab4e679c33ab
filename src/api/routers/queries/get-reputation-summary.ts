import { payingProcedure } from '../../trpc/trpc.js';
import { toolInput } from '../../../queries/service.js';
import { getReputationSummary } from '../../../queries/tools/get-reputation-summary.js';
import { answerQuery, queryMeta, queryOutput } from './query-route.js';

export const getReputationSummaryRoute = payingProcedure('read')
  .meta(queryMeta(getReputationSummary))
  .input(toolInput(getReputationSummary))
  .output(queryOutput(getReputationSummary))
  .query(({ ctx, input }) => answerQuery(ctx, getReputationSummary, input));
