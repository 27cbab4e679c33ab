import { payingProcedure } from '../../trpc/trpc.js';
import { toolInput } from '../../../queries/service.js';
import { getReputationReport } from '../../../queries/tools/get-reputation-report.js';
import { answerQuery, queryMeta, queryOutput } from './query-route.js';

export const getReputationReportRoute = payingProcedure('read')
  .meta(queryMeta(getReputationReport))
  .input(toolInput(getReputationReport))
  .output(queryOutput(getReputationReport))
  .query(({ ctx, input }) => answerQuery(ctx, getReputationReport, input));
