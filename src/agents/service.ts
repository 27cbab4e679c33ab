/**
 * Agents and their owners: linking (src/agents/links.ts), lapses (src/agents/lapses.ts), agent MCP tokens
 * (src/agents/mcp-tokens.ts), follows (src/agents/follows.ts) and "my agents" — the organization's linked agents with
 * their current reputation summary, computed by the query layer's getReputationSummary and not charged: owners see
 * their own agents for free.
 */
import type { Db } from '../db/pool.js';
import type { Logger } from '../logger.js';
import type { SecretBox } from '../secrets.js';
import type { TriggerService } from '../triggers/service.js';
import type { ChainConfig } from '../chain/config.js';
import { resolveAsOf } from '../queries/as-of.js';
import { QueryError } from '../queries/errors.js';
import { getReputationSummary } from '../queries/tools/get-reputation-summary.js';
import { AgentChains } from './chain.js';
import { AgentFollows } from './follows.js';
import { AgentLinks, type AgentLinkRecord } from './links.js';
import { AgentMcpTokens } from './mcp-tokens.js';

export interface AgentServiceDeps {
  pool: Db;
  chains: readonly ChainConfig[] | AgentChains;
  secrets: SecretBox;
  triggers: TriggerService;
  /** Secret of the link challenges' nonces. */
  linkSecret: Uint8Array;
  /** The domain named in link challenges (host of the public base URL). */
  domain: string;
  logger: Logger;
  now?: () => number;
}

export type ReputationSummary = Awaited<ReturnType<typeof getReputationSummary.run>>;

export interface MyAgent extends AgentLinkRecord {
  /** As of the chain's indexed head; null when the chain is not indexed here. */
  summary: { asOfBlock: number; asOfBlockHash: string; data: ReputationSummary } | null;
}

export class AgentService {
  readonly links: AgentLinks;
  readonly mcpTokens: AgentMcpTokens;
  readonly follows: AgentFollows;
  private readonly pool: Db;

  constructor(deps: AgentServiceDeps) {
    const chains = deps.chains instanceof AgentChains ? deps.chains : new AgentChains(deps.chains);
    this.pool = deps.pool;
    this.links = new AgentLinks({
      pool: deps.pool,
      chains,
      secret: deps.linkSecret,
      domain: deps.domain,
      logger: deps.logger,
      now: deps.now,
    });
    this.mcpTokens = new AgentMcpTokens({ pool: deps.pool, secrets: deps.secrets, links: this.links });
    this.follows = new AgentFollows({ pool: deps.pool, triggers: deps.triggers, logger: deps.logger });
  }

  /** The organization's actively linked agents, each with its reputation summary (free: no charge, no metering). */
  async myAgents(organizationId: string): Promise<MyAgent[]> {
    const links = await this.links.list(organizationId);
    const params = getReputationSummary.params.parse({});
    return Promise.all(
      links.map(async (link): Promise<MyAgent> => {
        try {
          const asOf = await resolveAsOf(this.pool, link.chainId, undefined);
          const data = await getReputationSummary.run({ db: this.pool, asOf, agentId: link.agentId }, params);
          return { ...link, summary: { asOfBlock: asOf.asOfBlock, asOfBlockHash: asOf.asOfBlockHash, data } };
        } catch (err) {
          if (err instanceof QueryError && err.code === 'chain_not_indexed') return { ...link, summary: null };
          throw err;
        }
      }),
    );
  }
}
