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
