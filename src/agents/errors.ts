/** Errors of agent linking, agent MCP tokens and follows; mapped to HTTP statuses in src/api/trpc/errors.ts. */
export type AgentErrorCode =
  /** The chain is not configured here, or has no identity registry. */
  | 'unknown_chain'
  /** The identity registry knows no such agent. */
  | 'agent_not_found'
  /** The nonce was not issued by us for this binding. */
  | 'invalid_challenge'
  | 'challenge_expired'
  /** The challenge was used already (replay). */
  | 'challenge_used'
  /** Malformed signature, or it is neither the owner's nor the agentWallet's. */
  | 'invalid_signature'
  /** No such link in the organization. */
  | 'link_not_found'
  /** The organization holds no active link to the agent (MCP tokens need one). */
  | 'not_linked'
  | 'token_not_found'
  /** Register refused: the agent has a token (rotate replaces it). */
  | 'token_exists'
  | 'follow_not_found'
  /** The chain's RPC did not answer. */
  | 'chain_unavailable';

export class AgentError extends Error {
  constructor(
    readonly code: AgentErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'AgentError';
  }
}
