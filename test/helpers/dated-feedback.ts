/**
 * Query-tool tests by calendar date on a ScriptedChain (a block every 12 s from 2026-01-01): the block of a date,
 * feedback numbered per (agent, client) as the registry numbers it, and a tool run with its parameters parsed.
 */
import { expect } from 'vitest';
import type { z } from 'zod';
import type { QueryContext, QueryTool } from '../../src/queries/tool.js';
import { GENESIS_TIME, type ScriptedChain } from './scripted-events.js';

/** The block whose time is midnight UTC of `date` (YYYY-MM-DD). */
export const blockAt = (date: string) => (Date.parse(`${date}T00:00:00Z`) / 1000 - GENESIS_TIME) / 12;

/** Writes feedback on `date` with the client's next feedback index for the agent. */
export function datedFeedback(chain: ScriptedChain) {
  const indexes = new Map<string, number>();
  const give = (date: string, agentId: string, client: string, value: string, decimals = 0, tag1 = 'quality') => {
    const key = `${agentId}/${client}`;
    indexes.set(key, (indexes.get(key) ?? 0) + 1);
    return chain.feedback(blockAt(date), { agentId, client, index: indexes.get(key)!, value, decimals, tag1 });
  };
  /** A reorg removed the client's last feedback: its index is given again. */
  give.forget = (agentId: string, client: string) => {
    const key = `${agentId}/${client}`;
    indexes.set(key, (indexes.get(key) ?? 1) - 1);
  };
  return give;
}

/**
 * Runs a tool as the query service would, with its parameters parsed (defaults applied), and checks that the answer
 * is exactly what its output schema describes (the surfaces publish that schema).
 */
export async function runTool<P extends z.ZodObject, D extends z.ZodType>(
  tool: QueryTool<P, D>,
  ctx: QueryContext,
  params: Record<string, unknown> = {},
): Promise<z.output<D>> {
  const data = await tool.run(ctx, tool.params.parse(params));
  expect(tool.data.parse(data), `${tool.name}'s answer matches its data schema`).toEqual(data);
  return data;
}

/** A validation request of `agentId` to `validator` on `date`. */
export function validationRequest(
  chain: ScriptedChain,
  date: string,
  agentId: string,
  validator: string,
  hash: string,
) {
  return chain.event('validation', blockAt(date), {
    event_type: 'ValidationRequest',
    agent_id: agentId,
    validator_address: validator,
    request_uri: `ipfs://request-${hash.slice(-4)}`,
    request_hash: hash,
  });
}

/** A response (0–100) to the validation request `hash` on `date`. */
export function validationResponse(
  chain: ScriptedChain,
  date: string,
  request: { agentId: string; validator: string; hash: string },
  response: number,
) {
  return chain.event('validation', blockAt(date), {
    event_type: 'ValidationResponse',
    agent_id: request.agentId,
    validator_address: request.validator,
    request_hash: request.hash,
    response,
    response_uri: `ipfs://response-${request.hash.slice(-4)}`,
    response_hash: `0x${response.toString(16).padStart(64, '0')}`,
    tag: '',
  });
}
