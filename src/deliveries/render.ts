/**
 * How each kind of action turns a firing into its request: the Telegram message, the webhook's method, URL and body,
 * the MCP tool call. The senders send it; the "test this trigger" preview shows it — the same rendering.
 */
import type { z } from 'zod';
import type { ActionType, mcpConfigSchema, restConfigSchema, telegramConfigSchema } from '../actions/config.js';
import {
  defaultWebhookBody,
  escapingForParseMode,
  renderJsonTemplate,
  renderTemplate,
  type TemplateContext,
} from '../actions/templates.js';

/**
 * An action's config as written (defaults not necessarily filled: the preview renders definitions that were never
 * saved); a validated config is one too.
 */
export interface ActionConfigInput {
  telegram: z.input<typeof telegramConfigSchema>;
  rest: z.input<typeof restConfigSchema>;
  mcp: z.input<typeof mcpConfigSchema>;
}

export interface RenderedAction {
  telegram: { chat_id: string | number; text: string };
  /** The body as a JSON value (GET and DELETE send none). */
  rest: { method: NonNullable<ActionConfigInput['rest']['method']>; url: string; body: unknown };
  mcp: { tool: string; arguments: Record<string, unknown> };
}

/** The request an action makes for a firing with this template context; throws a TemplateError when it cannot render. */
export function renderAction<T extends ActionType>(
  type: T,
  config: ActionConfigInput[T],
  context: TemplateContext,
): RenderedAction[T];
export function renderAction(
  type: ActionType,
  config: ActionConfigInput[ActionType],
  context: TemplateContext,
): RenderedAction[ActionType] {
  if (type === 'telegram') {
    const c = config as ActionConfigInput['telegram'];
    return {
      chat_id: c.chat_id,
      text: renderTemplate(c.message_template, context, escapingForParseMode(c.parse_mode)),
    };
  }
  if (type === 'rest') {
    const c = config as ActionConfigInput['rest'];
    return {
      method: c.method ?? 'POST',
      url: c.url,
      body: c.body_template === undefined ? defaultWebhookBody(context) : renderJsonTemplate(c.body_template, context),
    };
  }
  const c = config as ActionConfigInput['mcp'];
  return {
    tool: c.tool_name,
    arguments: renderJsonTemplate(c.arguments_template ?? {}, context, 'arguments_template') as Record<string, unknown>,
  };
}
