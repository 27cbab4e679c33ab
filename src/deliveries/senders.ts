/**
 * The senders: one attempt of a delivery to its destination — a Telegram message, a webhook (REST) call, an MCP tool
 * call — rendered by renderAction and sent through the SSRF guard. A sender never throws: whatever goes wrong is an
 * outcome, permanent (no retry helps) or transient.
 */
import type pg from 'pg';
import type * as s from 'zapatos/schema';
import { openActionSecrets } from '../actions/action-secrets.js';
import {
  validateActionConfig,
  type ActionConfig,
  type McpConfig,
  type RestConfig,
  type TelegramConfig,
} from '../actions/config.js';
import { callMcpTool } from '../actions/mcp.js';
import {
  findServiceEndpoint,
  loadRegistrationFile,
  RegistrationFileError,
  verifyFileHash,
  type RegistrationCache,
} from '../actions/registration.js';
import { retryAfterMs, safeRequest, SsrfError, type AllowList } from '../actions/safe-http.js';
import { chatVerificationHint, unverifiedChats } from '../actions/telegram-chats.js';
import { sendTelegramMessage, type TelegramLimiter } from '../actions/telegram.js';
import { actionWebhookSecrets } from '../actions/webhook-secrets.js';
import { webhookHeaders } from '../actions/webhook-signing.js';
import { agentSecret, SecretDecryptionError, type SecretBox } from '../secrets.js';
import { templateStateKeys } from '../triggers/store.js';
import { renderAction } from './render.js';
import { EXCERPT, type DeliveryRow } from './repository.js';
import type { SentOutcome } from './types.js';

export interface SenderDeps {
  pool: pg.Pool;
  secrets: SecretBox;
  telegram: { baseUrl: string; defaultBotToken: string | undefined; limiter: TelegramLimiter };
  allow: AllowList;
  ipfsGateway: string;
  registrations: RegistrationCache;
}

/** An action config after validation: usable, or why not (a permanent failure when sent). */
export type CheckedConfig = { config: ActionConfig; invalid?: undefined } | { config?: undefined; invalid: string };

/** The signing secrets of a delivery's REST action. */
export type SecretsOf = (row: DeliveryRow) => Promise<string[]>;

/** A Telegram or MCP client's failure as an attempt outcome. */
function failed(result: { permanent: boolean; error: string; status?: number; retryAfterMs?: number }): SentOutcome {
  return {
    ok: false,
    permanent: result.permanent,
    error: result.error,
    status: result.status,
    retryAfterMs: result.retryAfterMs,
  };
}

export class Senders {
  constructor(private readonly deps: SenderDeps) {}

  /** The signing secrets as stored now (a batch reads those of all its webhooks at once instead). */
  readonly secretsNow: SecretsOf = (row) =>
    actionWebhookSecrets(this.deps.pool, this.deps.secrets, {
      actionId: row.action_id!,
      organizationId: row.organization_id,
    });

  /**
   * The action's config, validated (schema and templates) once per delivery and attempt path, with its secrets opened:
   * the plan and the send both use it. A secret that does not open for the delivery's organization (sealed for another
   * one, or another field) makes the config invalid.
   */
  checkConfig(row: DeliveryRow): CheckedConfig {
    const checked = validateActionConfig(row.action_type, row.config ?? {}, templateStateKeys(row.conditions));
    if (!checked.config)
      return { invalid: `invalid action config: ${checked.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}` };
    try {
      return { config: openActionSecrets(row.action_type, checked.config, this.deps.secrets, row.organization_id) };
    } catch (err) {
      if (err instanceof SecretDecryptionError)
        return {
          invalid: `invalid action config: a secret does not open (${err.message}); save the action with the secret again`,
        };
      throw err;
    }
  }

  /** Renders and sends; never throws (rendering or config problems are permanent failures). */
  async send(row: DeliveryRow, checked: CheckedConfig, secretsOf: SecretsOf): Promise<SentOutcome> {
    try {
      const { config } = checked;
      if (!config) throw new Error(checked.invalid);
      return row.action_type === 'telegram'
        ? await this.sendTelegram(row, config as TelegramConfig)
        : row.action_type === 'rest'
          ? await this.sendRest(row, config as RestConfig, secretsOf)
          : await this.sendMcp(row, config as McpConfig);
    } catch (err) {
      // Rendering or config problems do not get better with retries.
      return { ok: false, permanent: true, error: (err as Error).message };
    }
  }

  private async sendTelegram(row: DeliveryRow, config: TelegramConfig): Promise<SentOutcome> {
    const { deps } = this;
    const token = config.bot_token ?? deps.telegram.defaultBotToken;
    if (!token)
      return { ok: false, permanent: true, error: 'no bot token: set bot_token on the action or TELEGRAM_BOT_TOKEN' };
    // Checked when saved too; this catches actions saved before chats had to be verified.
    if (!config.bot_token && (await unverifiedChats(deps.pool, row.organization_id, [config.chat_id])).length > 0) {
      return {
        ok: false,
        permanent: true,
        error: `chat ${config.chat_id} is not verified for the organization; the platform bot does not post there: ${chatVerificationHint(row.organization_id)}`,
      };
    }
    const { text } = renderAction('telegram', config, row.context);
    const result = await sendTelegramMessage({
      baseUrl: deps.telegram.baseUrl,
      botToken: token,
      chatId: config.chat_id,
      text,
      parseMode: config.parse_mode === 'plain' ? undefined : config.parse_mode,
      disableWebPagePreview: config.disable_web_page_preview,
      timeoutMs: config.timeout_ms,
      limiter: deps.telegram.limiter,
      idempotencyKey: row.idempotency_key,
    });
    if (result.ok)
      return {
        ok: true,
        permanent: false,
        error: '',
        status: result.status,
        excerpt: `message_id ${result.messageId}`,
      };
    return failed(result);
  }

  private async sendRest(row: DeliveryRow, config: RestConfig, secretsOf: SecretsOf): Promise<SentOutcome> {
    const request = renderAction('rest', config, row.context);
    const body = request.method === 'GET' || request.method === 'DELETE' ? '' : JSON.stringify(request.body);
    const secrets = await secretsOf(row);
    const signed = webhookHeaders({ id: row.idempotency_key, timestamp: Math.floor(Date.now() / 1000), body, secrets });
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'erc8004-backend',
      'idempotency-key': row.idempotency_key,
      ...config.headers,
      ...config.secret_headers,
      ...signed,
    };
    try {
      const res = await safeRequest({
        method: request.method,
        url: request.url,
        headers,
        body: body || undefined,
        timeoutMs: config.timeout_ms,
        maxResponseBytes: EXCERPT,
        allow: this.deps.allow,
      });
      const expected =
        config.expected_status === undefined
          ? res.status >= 200 && res.status < 300
          : [config.expected_status].flat().includes(res.status);
      if (expected) return { ok: true, permanent: false, error: '', status: res.status, excerpt: res.body };
      const retryable = res.status === 429 || res.status === 408 || res.status >= 500;
      return {
        ok: false,
        permanent: !retryable,
        status: res.status,
        excerpt: res.body,
        error: `${request.method} ${new URL(request.url).host} answered ${res.status}`,
        retryAfterMs: retryable ? retryAfterMs(res.headers) : undefined,
      };
    } catch (err) {
      if (err instanceof SsrfError) return { ok: false, permanent: true, error: err.message };
      return { ok: false, permanent: false, error: (err as Error).message };
    }
  }

  private async sendMcp(row: DeliveryRow, config: McpConfig): Promise<SentOutcome> {
    const { deps } = this;
    const event = row.context.event;
    const fetchText = (url: string) => this.fetchText(url);
    try {
      if (config.verify_file_hash) {
        const uri = event.file_uri as string | null;
        const expected = event.file_hash as string | null;
        if (!uri || !expected)
          return { ok: false, permanent: true, error: 'verify_file_hash: the event has no file URI or hash' };
        const check = await verifyFileHash(uri, expected, { ipfsGateway: deps.ipfsGateway, fetchText });
        if (!check.ok)
          return {
            ok: false,
            permanent: true,
            error: `file hash mismatch: ${uri} hashes to ${check.actual}, the event says ${check.expected}`,
          };
      }
      let endpoint = config.endpoint;
      const agentId = row.context.agent.id;
      const chainId = row.context.agent.chain_id;
      if (config.resolve_endpoint) {
        if (agentId === null) return { ok: false, permanent: true, error: 'resolve_endpoint: the event has no agent' };
        const current = await this.currentAgentUri(chainId, agentId);
        if (!current)
          return { ok: false, permanent: true, error: `agent ${agentId} has no registration URI on chain ${chainId}` };
        const file = await deps.registrations.getOrLoad(chainId, agentId, current.cacheKey, () =>
          loadRegistrationFile(current.uri, { ipfsGateway: deps.ipfsGateway, fetchText }),
        );
        endpoint = findServiceEndpoint(file, 'MCP');
        if (!endpoint)
          return { ok: false, permanent: true, error: `agent ${agentId}'s registration file lists no MCP service` };
      }
      // The agent's credential only for the endpoint the agent publishes, resolved just now; a tenant-chosen endpoint
      // gets none (else anyone could point an action at their own server and collect the agent's token).
      const token =
        config.resolve_endpoint && agentId !== null
          ? await this.agentMcpTokenFor(row.organization_id, chainId, agentId)
          : undefined;
      const request = renderAction('mcp', config, row.context);
      const result = await callMcpTool({
        endpoint: endpoint!,
        toolName: request.tool,
        arguments: request.arguments,
        token,
        idempotencyKey: row.idempotency_key,
        timeoutMs: config.timeout_ms,
        fetch: this.safeFetchWithin(config.timeout_ms),
      });
      if (result.ok)
        return { ok: true, permanent: false, error: '', excerpt: JSON.stringify(result.result).slice(0, EXCERPT) };
      return failed(result);
    } catch (err) {
      if (err instanceof SsrfError) return { ok: false, permanent: true, error: err.message };
      if (err instanceof RegistrationFileError)
        return { ok: false, permanent: err.permanent, error: err.message, status: err.status };
      // Retrying cannot make a token sealed for another agent (or with another key) open: store it again.
      if (err instanceof SecretDecryptionError)
        return { ok: false, permanent: true, error: `the agent's MCP token does not open: ${err.message}` };
      return { ok: false, permanent: false, error: (err as Error).message };
    }
  }

  private async fetchText(url: string) {
    const res = await safeRequest({
      method: 'GET',
      url,
      timeoutMs: 10_000,
      maxResponseBytes: 1024 * 1024,
      allow: this.deps.allow,
    });
    return { status: res.status, body: res.body };
  }

  /** A fetch for the MCP transport that goes through the SSRF checks, bounded by the action's timeout. */
  private safeFetchWithin(timeoutMs: number): typeof fetch {
    return async (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.toString() : input.url;
      const headers = Object.fromEntries(new Headers(init?.headers).entries());
      const body =
        init?.body === undefined || init.body === null
          ? undefined
          : typeof init.body === 'string'
            ? init.body
            : Buffer.from(await new Response(init.body).arrayBuffer());
      const res = await safeRequest({
        method: init?.method ?? 'GET',
        url,
        headers,
        body,
        timeoutMs,
        maxResponseBytes: 4 * 1024 * 1024,
        allow: this.deps.allow,
      });
      const outHeaders = new Headers();
      for (const [k, v] of Object.entries(res.headers))
        if (v !== undefined) outHeaders.set(k, Array.isArray(v) ? v.join(', ') : v);
      return new Response(res.status === 204 || res.status === 202 ? null : res.body, {
        status: res.status,
        headers: outHeaders,
      });
    };
  }

  /**
   * The agent's current registration URI, and a cache key that changes with any later identity event of the agent
   * (URI update, metadata, transfer), so a cached registration file is dropped when the agent changes.
   */
  private async currentAgentUri(
    chainId: number,
    agentId: string,
  ): Promise<{ uri: string; cacheKey: string } | undefined> {
    const { rows } = await this.deps.pool.query<{ token_uri: string | null; last_seq: string }>(
      `SELECT (SELECT token_uri FROM canonical_events WHERE chain_id = $1 AND agent_id = $2 AND registry = 'identity'
                 AND event_type IN ('Registered', 'URIUpdated') ORDER BY block_number DESC, log_index DESC LIMIT 1) AS token_uri,
              (SELECT coalesce(max(ingest_seq), 0)::text FROM canonical_events WHERE chain_id = $1 AND agent_id = $2 AND registry = 'identity') AS last_seq`,
      [chainId, agentId],
    );
    const row = rows[0];
    return row?.token_uri ? { uri: row.token_uri, cacheKey: `${row.token_uri}#${row.last_seq}` } : undefined;
  }

  /**
   * The agent's MCP token for a call, made on behalf of `organizationId`, to the endpoint the agent itself publishes.
   * Seam for agent linking (not built yet): once it exists, the token goes only with calls made on behalf of the
   * organization that linked the agent — check that here and return undefined otherwise.
   */
  private async agentMcpTokenFor(
    _organizationId: string,
    chainId: number,
    agentId: string,
  ): Promise<string | undefined> {
    const { rows } = await this.deps.pool.query<Pick<s.agent_mcp_tokens.Selectable, 'token'>>(
      'SELECT token FROM agent_mcp_tokens WHERE chain_id = $1 AND agent_id = $2',
      [chainId, agentId],
    );
    return rows[0]
      ? this.deps.secrets.decrypt(rows[0].token, agentSecret(chainId, agentId, 'agent_mcp_tokens.token'))
      : undefined;
  }
}
