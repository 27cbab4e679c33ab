import { describe, expect, it } from 'vitest';
import { buildTemplateContext, defaultWebhookBody, TemplateError } from '../../src/actions/templates.js';
import { renderAction } from '../../src/deliveries/render.js';

const context = buildTemplateContext({
  event: {
    id: '84532-1000-3',
    ingest_seq: '9001',
    chain_id: '84532',
    block_number: '1000',
    log_index: 3,
    registry: 'reputation',
    event_type: 'NewFeedback',
    agent_id: '7',
    timestamp: '1700000000',
    block_time: new Date(1_700_000_000_000),
    value: '95',
    value_decimals: 0,
    tag1: 'uptime',
  },
  trigger: { id: 'trg-1', name: 'Score_(low)', chain_id: '84532', registry: 'reputation', organization_id: 'org-1' },
  agentKey: '84532:7',
  values: { '1': { result: true, metric: 95 } },
  firedAt: new Date('2024-05-06T07:08:09.010Z'),
  kind: 'match',
});

describe('renderAction', () => {
  it('renders a Telegram message escaped for its parse mode (MarkdownV2 unless said otherwise)', () => {
    const template = '{{trigger.name}} for agent {{agent.id}}';
    expect(renderAction('telegram', { chat_id: 42, message_template: template }, context)).toEqual({
      chat_id: 42,
      text: 'Score\\_\\(low\\) for agent 7',
    });
    expect(
      renderAction('telegram', { chat_id: '42', message_template: template, parse_mode: 'plain' }, context),
    ).toEqual({ chat_id: '42', text: 'Score_(low) for agent 7' });
  });

  it('renders a webhook: POST with the default body unless a body template is given', () => {
    expect(renderAction('rest', { url: 'https://example.test/hook' }, context)).toEqual({
      method: 'POST',
      url: 'https://example.test/hook',
      body: defaultWebhookBody(context),
    });
    expect(
      renderAction(
        'rest',
        { url: 'https://example.test/hook', method: 'PUT', body_template: { a: '{{agent.id}}' } },
        context,
      ),
    ).toEqual({ method: 'PUT', url: 'https://example.test/hook', body: { a: '7' } });
  });

  it("renders an MCP tool call's arguments, and names the arguments template when it cannot", () => {
    expect(
      renderAction(
        'mcp',
        { tool_name: 'notify', arguments_template: { agent: '{{agent.id}}' }, resolve_endpoint: true },
        context,
      ),
    ).toEqual({ tool: 'notify', arguments: { agent: '7' } });
    expect(renderAction('mcp', { tool_name: 'notify', resolve_endpoint: true }, context)).toEqual({
      tool: 'notify',
      arguments: {},
    });
    expect(() =>
      renderAction(
        'mcp',
        { tool_name: 'notify', arguments_template: { a: '{{#if}}' }, resolve_endpoint: true },
        context,
      ),
    ).toThrow(TemplateError);
  });
});
