import { payingProcedure } from '../../trpc/trpc.js';
import { toolInput } from '../../../queries/service.js';
import { getTrend } from '../../../queries/tools/get-trend.js';
import { answerQuery, queryMeta, queryOutput } from './query-route.js';

export const getTrendRoute = payingProcedure('read')
  .meta(queryMeta(getTrend))
  .input(toolInput(getTrend))
  .output(queryOutput(getTrend))
  .query(({ ctx, input }) => answerQuery(ctx, getTrend, input));
