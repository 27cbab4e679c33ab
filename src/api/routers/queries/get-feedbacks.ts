import { payingProcedure } from '../../trpc/trpc.js';
import { toolInput } from '../../../queries/service.js';
import { getFeedbacks } from '../../../queries/tools/get-feedbacks.js';
import { answerQuery, queryMeta, queryOutput } from './query-route.js';

export const getFeedbacksRoute = payingProcedure('read')
  .meta(queryMeta(getFeedbacks))
  .input(toolInput(getFeedbacks))
  .output(queryOutput(getFeedbacks))
  .query(({ ctx, input }) => answerQuery(ctx, getFeedbacks, input));
