/**
 * Action configurations (the seed's trigger_actions.config), validated per action type when a trigger is saved —
 * including every template, against the variables the trigger can actually provide — not when a worker first runs it.
 */
import { z } from 'zod';
import { checkDestination, SsrfError, type AllowList, type HostLookup } from './safe-http.js';
import { knownVariables, validateJsonTemplate, validateTemplate } from './templates.js';

export const ACTION_TYPES = ['telegram', 'rest', 'mcp'] as const;
export type ActionType = (typeof ACTION_TYPES)[number];

export const retryPolicySchema = z
  .object({
    max_attempts: z.number().int().min(1).max(1_000).default(25),
    initial_interval_ms: z.number().int().min(100).max(3_600_000).default(1_000),
    max_interval_ms: z
      .number()
      .int()
      .min(100)
      .max(86_400_000)
      .default(30 * 60_000),
    /** Give up (dead letter) once this much time has passed since the first attempt. */
    horizon_ms: z
      .number()
      .int()
      .min(1_000)
      .max(7 * 86_400_000)
      .default(12 * 3_600_000),
  })
  .strict()
  .refine((r) => r.max_interval_ms >= r.initial_interval_ms, {
    message: 'must not be below initial_interval_ms',
    path: ['max_interval_ms'],
  });
export type RetryPolicy = z.infer<typeof retryPolicySchema>;
export const DEFAULT_RETRY: RetryPolicy = retryPolicySchema.parse({});

const timeout = z.number().int().min(100, 'at least 100 ms').max(120_000, 'at most 120000 ms');
/** A secret as written by the user (plain) or as stored (sealed by SecretBox, 'v1:…'). */
const secret = z.string().min(1).max(4_096);

export const telegramConfigSchema = z
  .object({
    chat_id: z
      .union([z.string(), z.number().int()])
      .transform(String)
      .pipe(
        z.string().regex(/^(-?\d{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31})$/, 'must be a numeric chat id or @channelusername'),
      ),
    message_template: z
      .string()
      .min(1, 'must not be empty')
      .max(4_096, 'Telegram messages hold at most 4096 characters'),
    parse_mode: z.enum(['MarkdownV2', 'HTML', 'plain']).default('MarkdownV2'),
    /** The bot's token; defaults to TELEGRAM_BOT_TOKEN. Stored sealed. */
    bot_token: secret.optional(),
    disable_web_page_preview: z.boolean().default(true),
    timeout_ms: timeout.default(10_000),
    retry: retryPolicySchema.optional(),
  })
  .strict();

const FORBIDDEN_HEADERS =
  /^(host|content-length|connection|transfer-encoding|keep-alive|upgrade|te|trailer|proxy-.*|webhook-(id|timestamp|signature))$/i;
const headerMap = z
  .record(
    z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/, 'must be a valid header name'),
    z
      .string()
      .max(8_192)
      .regex(/^[^\r\n]*$/, 'must not contain line breaks'),
  )
  .superRefine((headers, ctx) => {
    for (const name of Object.keys(headers)) {
      if (FORBIDDEN_HEADERS.test(name))
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: `${name} is set by the service and cannot be overridden`,
        });
    }
  });

export const restConfigSchema = z
  .object({
    method: z.enum(['POST', 'PUT', 'PATCH', 'GET', 'DELETE']).default('POST'),
    url: z
      .url({ protocol: /^https?$/, message: 'must be an http(s) URL' })
      .refine((u) => !/^[a-z]+:\/\/[^/]*@/i.test(u), 'must not contain credentials'),
    headers: headerMap.default({}),
    /** Headers whose values are secrets (API keys of the receiver). Stored sealed. */
    secret_headers: headerMap.optional(),
    /** A JSON value whose string leaves are templates; a default body describes the firing when absent. */
    body_template: z.unknown().optional(),
    timeout_ms: timeout.default(10_000),
    expected_status: z
      .union([z.number().int().min(100).max(599), z.array(z.number().int().min(100).max(599)).min(1)])
      .optional(),
    retry: retryPolicySchema.optional(),
  })
  .strict();

export const mcpConfigSchema = z
  .object({
    /** Take the endpoint from the agent's registration file (its `services` entry named MCP). */
    resolve_endpoint: z.boolean().default(false),
    endpoint: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).optional(),
    tool_name: z.string().min(1).max(200),
    arguments_template: z.record(z.string(), z.unknown()).default({}),
    /** Fetch the event's feedback file and check its keccak256 against file_hash before calling. */
    verify_file_hash: z.boolean().default(false),
    timeout_ms: timeout.default(15_000),
    retry: retryPolicySchema.optional(),
  })
  .strict()
  .refine((c) => c.resolve_endpoint || c.endpoint, {
    message: 'needs an endpoint, or resolve_endpoint: true',
    path: ['endpoint'],
  });

export type TelegramConfig = z.infer<typeof telegramConfigSchema>;
export type RestConfig = z.infer<typeof restConfigSchema>;
export type McpConfig = z.infer<typeof mcpConfigSchema>;
export type ActionConfig = TelegramConfig | RestConfig | McpConfig;

const SCHEMAS = { telegram: telegramConfigSchema, rest: restConfigSchema, mcp: mcpConfigSchema } as const;

export interface ActionIssue {
  path: string;
  message: string;
}

/**
 * Validates one action's config: its shape, then every template against the variables of a trigger with these
 * condition keys. Returns the normalised config (defaults filled) or the problems, each with its path.
 */
export function validateActionConfig(
  type: string,
  config: unknown,
  conditionKeys: string[],
  path = 'config',
): { config?: ActionConfig; issues: ActionIssue[] } {
  if (!(ACTION_TYPES as readonly string[]).includes(type))
    return { issues: [{ path: 'action_type', message: `must be one of ${ACTION_TYPES.join(', ')}` }] };
  const parsed = SCHEMAS[type as ActionType].safeParse(config);
  if (!parsed.success) {
    return { issues: parsed.error.issues.map((i) => ({ path: [path, ...i.path].join('.'), message: i.message })) };
  }
  const known = knownVariables(conditionKeys);
  const issues: ActionIssue[] = [];
  const prefix = (field: string, problems: string[]) =>
    problems.forEach((message) => issues.push({ path: `${path}.${field}`, message }));
  const c = parsed.data;
  if (type === 'telegram') prefix('message_template', validateTemplate((c as TelegramConfig).message_template, known));
  if (type === 'rest' && (c as RestConfig).body_template !== undefined)
    prefix('body_template', validateJsonTemplate((c as RestConfig).body_template, known, 'body_template'));
  if (type === 'mcp')
    prefix(
      'arguments_template',
      validateJsonTemplate((c as McpConfig).arguments_template, known, 'arguments_template'),
    );
  return issues.length > 0 ? { issues } : { config: c, issues };
}

/** How long saving an action waits for a destination's host to resolve. */
const SAVE_LOOKUP_TIMEOUT_MS = 5_000;

/**
 * The SSRF rules (./safe-http.ts, the same ones every send applies) on the destinations actions name when they are
 * saved: REST URLs, and MCP endpoints chosen in the action (an endpoint resolved from the agent's registration file is
 * only known at send time). Each refusal is an issue saying why and how an operator allows it. A host that does not
 * resolve now is not refused (the send decides); configs of the wrong shape are left to validateActionConfig.
 */
export async function refusedDestinations(
  actions: readonly { action_type: string; config: unknown }[],
  allow: AllowList,
  options: { lookup?: HostLookup } = {},
): Promise<ActionIssue[]> {
  const issues = await Promise.all(
    actions.map(async (action, i): Promise<ActionIssue | undefined> => {
      let field: string;
      let url: string | undefined;
      if (action.action_type === 'rest') {
        const parsed = restConfigSchema.safeParse(action.config);
        [field, url] = ['url', parsed.data?.url];
      } else if (action.action_type === 'mcp') {
        const parsed = mcpConfigSchema.safeParse(action.config);
        [field, url] = ['endpoint', parsed.data?.resolve_endpoint ? undefined : parsed.data?.endpoint];
      } else return undefined;
      if (url === undefined) return undefined;
      try {
        await checkDestination(url, {
          allow,
          lookup: options.lookup,
          signal: AbortSignal.timeout(SAVE_LOOKUP_TIMEOUT_MS),
        });
        return undefined;
      } catch (err) {
        if (!(err instanceof SsrfError)) return undefined;
        const what = err.host ?? new URL(url).hostname;
        return {
          path: `actions.${i}.config.${field}`,
          message: `${err.message}; an operator can allow it by adding ${what} to ACTION_ALLOWED_HOSTS`,
        };
      }
    }),
  );
  return issues.filter((issue) => issue !== undefined);
}

/** The destination a circuit breaker protects: URL host, Telegram chat, MCP endpoint (or the agent's, resolved). */
export function destinationOf(type: ActionType, config: ActionConfig, agentKey: string): string {
  if (type === 'telegram') return `telegram:${(config as TelegramConfig).chat_id}`;
  if (type === 'rest') return `rest:${new URL((config as RestConfig).url).host}`;
  const mcp = config as McpConfig;
  return mcp.endpoint && !mcp.resolve_endpoint ? `mcp:${new URL(mcp.endpoint).host}` : `mcp:agent:${agentKey}`;
}
