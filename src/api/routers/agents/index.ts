import { router } from '../../trpc/trpc.js';
import { createLinkChallengeRoute } from './create-link-challenge.js';
import { deleteAgentMcpTokenRoute } from './delete-agent-mcp-token.js';
import { followAgentRoute } from './follow-agent.js';
import { getAgentMcpTokenRoute } from './get-agent-mcp-token.js';
import { linkAgentRoute } from './link-agent.js';
import { listFollowsRoute } from './list-follows.js';
import { listLinkedAgentsRoute } from './list-linked-agents.js';
import { listMyAgentsRoute } from './list-my-agents.js';
import { registerAgentMcpTokenRoute } from './register-agent-mcp-token.js';
import { rotateAgentMcpTokenRoute } from './rotate-agent-mcp-token.js';
import { unfollowAgentRoute } from './unfollow-agent.js';
import { unlinkAgentRoute } from './unlink-agent.js';

export const agentsRouter = router({
  createLinkChallenge: createLinkChallengeRoute,
  link: linkAgentRoute,
  unlink: unlinkAgentRoute,
  listLinks: listLinkedAgentsRoute,
  myAgents: listMyAgentsRoute,
  registerMcpToken: registerAgentMcpTokenRoute,
  rotateMcpToken: rotateAgentMcpTokenRoute,
  deleteMcpToken: deleteAgentMcpTokenRoute,
  getMcpToken: getAgentMcpTokenRoute,
  follow: followAgentRoute,
  unfollow: unfollowAgentRoute,
  listFollows: listFollowsRoute,
});
