/**
 * The agent card (A2A v1.0 §8): one skill per query tool with its price, the credentials accepted, the JSON-RPC and
 * HTTP+JSON endpoints, streaming. Served as the card's proto-JSON (`AgentCard.toJSON`: the SDK's own card handler
 * stringifies the ts-proto object, which ships `securitySchemes` as `{"$case": …}`), with an ETag.
 */
import { createHash } from 'node:crypto';
import { AgentCard, type SecurityRequirement } from '@a2a-js/sdk';
import type { QueryService } from '../queries/service.js';

export const A2A_CARD_PATH = '/.well-known/agent-card.json';
export const A2A_JSONRPC_PATH = '/a2a/jsonrpc';
export const A2A_REST_PATH = '/a2a/rest';
export const A2A_PROTOCOL_VERSION = '1.0';
/** Clients may keep the card this long (it changes only with a deployment's tools or prices). */
const CARD_MAX_AGE_SECONDS = 300;

const example = (tool: string) =>
  JSON.stringify({ tool, chainId: 11155111, agentId: '42', ...(tool === 'getTrend' ? { bucket: 'month' } : {}) });

export function buildAgentCard(publicUrl: string, queries: QueryService): AgentCard {
  const security: SecurityRequirement[] = [
    { schemes: { bearer: { list: [] } } },
    { schemes: { apiKey: { list: [] } } },
  ];
  return {
    name: 'ERC-8004 reputation queries',
    description:
      'Answers questions about ERC-8004 agents (profile, feedback, reputation summary, validations, trend, client ' +
      'analysis, baseline, report) as of a block, from the indexed registries. Send a message with a data part ' +
      '{"tool": "<skill id>", "chainId": …, "agentId": "…", …the tool’s parameters}; the answer is the task’s artifact.',
    supportedInterfaces: [
      {
        url: `${publicUrl}${A2A_JSONRPC_PATH}`,
        protocolBinding: 'JSONRPC',
        protocolVersion: A2A_PROTOCOL_VERSION,
        tenant: '',
      },
      {
        url: `${publicUrl}${A2A_REST_PATH}`,
        protocolBinding: 'HTTP+JSON',
        protocolVersion: A2A_PROTOCOL_VERSION,
        tenant: '',
      },
    ],
    provider: { organization: 'erc8004-backend', url: publicUrl },
    version: '1.0.0',
    documentationUrl: `${publicUrl}/api/v1/docs`,
    capabilities: { streaming: true, pushNotifications: false, extensions: [], extendedAgentCard: false },
    securitySchemes: {
      bearer: {
        scheme: {
          $case: 'httpAuthSecurityScheme',
          value: { scheme: 'Bearer', bearerFormat: '', description: 'An API key or an OAuth access token (read)' },
        },
      },
      apiKey: {
        scheme: {
          $case: 'apiKeySecurityScheme',
          value: { location: 'header', name: 'X-API-Key', description: 'An API key with the read permission' },
        },
      },
    },
    securityRequirements: security,
    defaultInputModes: ['application/json'],
    defaultOutputModes: ['application/json'],
    skills: queries.describeTools().map((tool) => ({
      id: tool.name,
      name: tool.title,
      description: `${tool.description} ${tool.price} USDC per call (tier ${tool.tier}).`,
      tags: ['erc-8004', 'reputation', `tier-${tool.tier}`],
      examples: [example(tool.name)],
      inputModes: ['application/json'],
      outputModes: ['application/json'],
      securityRequirements: security,
    })),
    signatures: [],
  };
}

/** The card's body and validators, computed once per process. */
export function agentCardDocument(card: AgentCard): { body: string; etag: string; cacheControl: string } {
  const body = JSON.stringify(AgentCard.toJSON(card));
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 32)}"`;
  return { body, etag, cacheControl: `public, max-age=${CARD_MAX_AGE_SECONDS}` };
}
