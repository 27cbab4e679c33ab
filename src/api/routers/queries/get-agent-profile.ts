import { payingProcedure } from '../../trpc/trpc.js';
import { toolInput } from '../../../queries/service.js';
import { getAgentProfile } from '../../../queries/tools/get-agent-profile.js';
import { answerQuery, queryMeta, queryOutput } from './query-route.js';

export const getAgentProfileRoute = payingProcedure('read')
  .meta(queryMeta(getAgentProfile))
  .input(toolInput(getAgentProfile))
  .output(queryOutput(getAgentProfile))
  .query(({ ctx, input }) => answerQuery(ctx, getAgentProfile, input));
