/**
 * What an A2A message asks for: a data part `{ tool, chainId, agentId, ...params }` naming one of the query tools and
 * its arguments (the same as the tool's REST and MCP input). Anything else is refused with a reason the task's
 * REJECTED status carries.
 */
import type { Message } from '@a2a-js/sdk';
import { toolInput, type QueryService } from '../queries/service.js';

export type QueryRequest =
  { ok: true; tool: string; input: Record<string, unknown> } | { ok: false; tool: string; reason: string };

export function queryRequestOf(message: Message, queries: QueryService): QueryRequest {
  const data = message.parts.find((p) => p.content?.$case === 'data')?.content?.value as unknown;
  if (!data || typeof data !== 'object' || Array.isArray(data)) {
    return {
      ok: false,
      tool: '',
      reason: 'the message needs a data part {"tool": "<query tool>", "chainId": …, "agentId": …, …its parameters}',
    };
  }
  const { tool, ...input } = data as Record<string, unknown>;
  const name = typeof tool === 'string' ? tool : '';
  const known = queries.listTools().find((t) => t.name === name);
  if (!known) {
    const names = queries
      .listTools()
      .map((t) => t.name)
      .join(', ');
    return {
      ok: false,
      tool: name.slice(0, 100),
      reason: `unknown tool ${JSON.stringify(tool)}; the tools are ${names}`,
    };
  }
  const parsed = toolInput(known).safeParse(input);
  if (!parsed.success) {
    const reason = parsed.error.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ');
    return { ok: false, tool: name, reason: `invalid arguments for ${name}: ${reason}` };
  }
  return { ok: true, tool: name, input };
}

/** The size of the message's data (JSON bytes), which the argument size limit bounds. */
export function argumentBytes(message: Message | undefined): number {
  const data = message?.parts.filter((p) => p.content?.$case === 'data').map((p) => p.content?.value);
  return Buffer.byteLength(JSON.stringify(data ?? []));
}
