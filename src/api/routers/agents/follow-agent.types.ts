import { z } from 'zod';
import type { ApiMeta } from '../../trpc/trpc.js';
import { actionInput } from '../triggers/schema.js';
import { MAX_ACTIONS_PER_TRIGGER } from '../../../billing/plans.js';
import { agentInput, followOutput } from './schema.js';

export const followAgentMeta: ApiMeta = {
  openapi: {
    method: 'POST',
    path: '/organizations/{organizationId}/agents/{chainId}/{agentId}/follow',
    tags: ['Agents'],
    summary:
      'Follow an agent: a managed set of triggers (new feedback, revocations, validation responses, reputation drop)',
    description:
      'Creates four triggers with the given actions, removed together by unfollow. Following an agent the organization ' +
      "follows already returns the existing set (created: false). Each trigger counts against the plan's trigger quota.",
    protect: true,
  },
};
export const ZFollowAgentRequest = agentInput.extend({
  actions: z.array(actionInput).min(1).max(MAX_ACTIONS_PER_TRIGGER),
  reputationDropBelow: z.number().finite().optional().describe('EMA threshold of the reputation drop (default 50).'),
  reputationWindow: z.number().int().min(1).max(100_000).optional().describe('EMA window in feedback (default 10).'),
});
export const ZFollowAgentResponse = followOutput.extend({ created: z.boolean() });
