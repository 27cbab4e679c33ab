import { payingProcedure } from '../../trpc/trpc.js';
import { toolInput } from '../../../queries/service.js';
import { compareToBaseline } from '../../../queries/tools/compare-to-baseline.js';
import { answerQuery, queryMeta, queryOutput } from './query-route.js';

export const compareToBaselineRoute = payingProcedure('read')
  .meta(queryMeta(compareToBaseline))
  .input(toolInput(compareToBaseline))
  .output(queryOutput(compareToBaseline))
  .query(({ ctx, input }) => answerQuery(ctx, compareToBaseline, input));
