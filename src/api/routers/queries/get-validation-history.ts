import { payingProcedure } from '../../trpc/trpc.js';
import { toolInput } from '../../../queries/service.js';
import { getValidationHistory } from '../../../queries/tools/get-validation-history.js';
import { answerQuery, queryMeta, queryOutput } from './query-route.js';

export const getValidationHistoryRoute = payingProcedure('read')
  .meta(queryMeta(getValidationHistory))
  .input(toolInput(getValidationHistory))
  .output(queryOutput(getValidationHistory))
  .query(({ ctx, input }) => answerQuery(ctx, getValidationHistory, input));
