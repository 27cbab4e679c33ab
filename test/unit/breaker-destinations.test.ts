/**
 * What a circuit breaker guards (together with the organization): one destination. A Telegram chat, an MCP endpoint
 * or an agent's published endpoint, a webhook host: one failing chat or endpoint must not park deliveries to another.
 */
import { describe, expect, it } from 'vitest';
import { destinationOf, type ActionConfig } from '../../src/actions/config.js';

const cfg = (c: Record<string, unknown>) => c as unknown as ActionConfig;

describe('destinationOf (the breaker key within an organization)', () => {
  it('is the chat for Telegram: two chats of one bot have two breakers', () => {
    const a = destinationOf('telegram', cfg({ chat_id: '1001', message_template: 'x' }), '31337:1');
    const b = destinationOf('telegram', cfg({ chat_id: '1002', message_template: 'x' }), '31337:1');
    expect(a).toBe('telegram:1001');
    expect(b).toBe('telegram:1002');
  });

  it('is the endpoint host for a chosen MCP endpoint, and the agent for a resolved one', () => {
    expect(destinationOf('mcp', cfg({ endpoint: 'https://a.example/mcp', tool_name: 't' }), '31337:1')).toBe(
      'mcp:a.example',
    );
    expect(destinationOf('mcp', cfg({ endpoint: 'https://b.example:8443/mcp', tool_name: 't' }), '31337:1')).toBe(
      'mcp:b.example:8443',
    );
    const agent1 = destinationOf('mcp', cfg({ resolve_endpoint: true, tool_name: 't' }), '31337:1');
    const agent2 = destinationOf('mcp', cfg({ resolve_endpoint: true, tool_name: 't' }), '31337:2');
    expect(agent1).toBe('mcp:agent:31337:1');
    expect(agent2).not.toBe(agent1);
  });

  it('is the host for a webhook: paths on one host share it, other hosts do not', () => {
    expect(destinationOf('rest', cfg({ url: 'https://hooks.example/a' }), '31337:1')).toBe(
      destinationOf('rest', cfg({ url: 'https://hooks.example/b' }), '31337:9'),
    );
    expect(destinationOf('rest', cfg({ url: 'https://other.example/a' }), '31337:1')).toBe('rest:other.example');
  });
});
