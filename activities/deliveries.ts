/**
 * Side effects of action delivery: creating deliveries for a trigger's firings (one per action, idempotency key
 * `dlv_{trigger}_{eventSeq}_{kind}_{action}`); the dispatchers' pump, which makes first attempts in batches; single
 * attempts for the per-delivery workflows (render, send, record the attempt, feed the circuit breaker); and the
 * delivery's status.
 */
import type { Client } from '@temporalio/client';
import type { Logger } from '../src/logger.js';
import {
  breakerGate,
  breakerGates,
  breakerKeyId,
  destinationHealth,
  recordBreakerOutcomes,
} from '../src/actions/breaker.js';
import {
  DEFAULT_RETRY,
  destinationOf,
  validateActionConfig,
  type ActionConfig,
  type ActionType,
  type McpConfig,
  type RestConfig,
  type RetryPolicy,
  type TelegramConfig,
} from '../src/actions/config.js';
import { callMcpTool } from '../src/actions/mcp.js';
import {
  findServiceEndpoint,
  loadRegistrationFile,
  RegistrationFileError,
  verifyFileHash,
  type RegistrationCache,
} from '../src/actions/registration.js';
import { retryAfterMs, safeRequest, SsrfError, type AllowList } from '../src/actions/safe-http.js';
import { sendTelegramMessage, type TelegramLimiter } from '../src/actions/telegram.js';
import { chatVerificationHint, unverifiedChats } from '../src/actions/telegram-chats.js';
import {
  defaultWebhookBody,
  renderJsonTemplate,
  renderTemplate,
  type TemplateContext,
} from '../src/actions/templates.js';
import { webhookHeaders } from '../src/actions/webhook-signing.js';
import { actionWebhookSecrets, webhookSecretsOf } from '../src/actions/webhook-secrets.js';
import { agentSecret, SecretDecryptionError, type SecretBox } from '../src/secrets.js';
import { openActionSecrets } from '../src/actions/action-secrets.js';
import { forEachConcurrently } from '../src/concurrency.js';
import { templateStateKeys } from '../src/triggers/store.js';
import {
  DELIVERIES_CREATED_CHANNEL,
  dispatcherTaskQueue,
  ensureDispatcher,
  recordMatches,
  startDeliveries,
  type DispatchSettings,
  type MatchRecord,
} from '../src/triggers/firings.js';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { CancelledFailure, Context } from '@temporalio/activity';
import pg from 'pg';

export { deliveryKey } from '../src/triggers/firings.js';

export interface DeliveryDeps {
  pool: pg.Pool;
  logger: Logger;
  temporal: Client;
  taskQueue: string;
  secrets: SecretBox;
  telegram: { baseUrl: string; defaultBotToken: string | undefined; limiter: TelegramLimiter };
  allow: AllowList;
  ipfsGateway: string;
  registrations: RegistrationCache;
  /** Circuit breaker tuning (tests shorten the pause). */
  breaker?: { threshold?: number; basePauseMs?: number };
  /** How many delivery dispatcher workflows share the first attempts (see workflows/delivery-dispatcher.ts). */
  dispatch?: DispatchSettings;
  /** How long a pump's claim holds without being extended (default CLAIM_LEASE_MS). */
  claimLeaseMs?: number;
}

export interface AttemptOutcome {
  ok: boolean;
  permanent: boolean;
  error: string;
  status?: number;
  retryAfterMs?: number;
}

export interface DeliveryPlan {
  destination: string;
  retry: RetryPolicy;
  attemptsBefore: number;
  /** The action's own request timeout. */
  timeoutMs: number;
}

/** What deliverFirstAttempt did: no plan (nothing to deliver), a plan without an attempt (breaker open), or both. */
export interface FirstAttempt {
  plan: DeliveryPlan | null;
  /** Present when the attempt was made; when ok, the delivery is already marked delivered. */
  outcome?: AttemptOutcome;
}

/** What a delivery batch did with its deliveries. */
export interface BatchResult {
  claimed: number;
  delivered: number;
  dead: number;
  /** Handed to their own delivery workflow: failed transiently, breaker open, or a slow destination. */
  handedOff: number;
}

/** What one shift of a dispatcher's pump did (its activity result, and its heartbeat details). */
export interface PumpResult extends BatchResult {
  batches: number;
}

const EXCERPT = 2_048;
/** Deliveries a batch starts from (whole firings are claimed: their other actions come along). */
const PUMP_BATCH_SIZE = 500;
/** Batches a pump attempts at once: a batch held up by a slow receiver leaves room for the others. */
const PUMP_BATCHES_IN_FLIGHT = 4;
/** A pump looks for deliveries this often even without a notification (one lost with a dropped connection). */
const PUMP_SWEEP_MS = 2_000;
const PUMP_CANCEL_GRACE_MS = 2_000;
/**
 * A pump's claims are leases: held this long, extended while the pump works (at a third of it), and taken over by
 * another run only once expired. Above the pump's heartbeat timeout (10 s), so a run that Temporal gave up on is
 * replaced before its claims are taken, and a run that is merely slow keeps them.
 */
export const CLAIM_LEASE_MS = 20_000;
/** An attempt slower than this marks its destination slow: the batches then leave it to per-delivery workflows. */
const SLOW_ATTEMPT_MS = 1_000;
const SLOW_LANE_MS = 5 * 60_000;
/** Firings attempted at once within a batch (a firing's actions go one after the other, in priority order). */
const BATCH_CONCURRENCY = 32;
/** Delivery workflows started at once when a batch hands deliveries off (a destination down: many of them). */
const HAND_OFF_CONCURRENCY = 16;

interface DeliveryRow {
  idempotency_key: string;
  /** The firing (trigger_matches.id): its deliveries are one per action. */
  match_id: string;
  organization_id: string;
  trigger_id: string | null;
  action_id: number | null;
  action_type: ActionType;
  status: string;
  attempts: number;
  context: TemplateContext;
  config: Record<string, unknown> | null;
  conditions: { id: number; condition_type: string; config: Record<string, unknown> | null }[];
}

/** A delivery with its action's config and its trigger's conditions (for template names), from `deliveries d`. */
const DELIVERY_COLUMNS = `d.idempotency_key, d.match_id::text AS match_id, d.organization_id, d.trigger_id, d.action_id, d.action_type, d.status,
  d.attempts, d.context, a.config,
  coalesce((SELECT json_agg(json_build_object('id', c.id, 'condition_type', c.condition_type, 'config', c.config) ORDER BY c.id)
            FROM trigger_conditions c WHERE c.trigger_id = d.trigger_id), '[]') AS conditions`;

/** An action config after validation: usable, or why not (a permanent failure when sent). */
type CheckedConfig = { config: ActionConfig; invalid?: undefined } | { config?: undefined; invalid: string };

interface AttemptRecord {
  idempotencyKey: string;
  organizationId: string;
  attempt: number;
  destination: string;
  outcome: AttemptOutcome & { excerpt?: string };
  durationMs: number;
}

export function createDeliveryActivities(deps: DeliveryDeps) {
  const { pool } = deps;
  const log = deps.logger.child({ component: 'deliveries' });
  const firingDeps = { pool, temporal: deps.temporal, taskQueue: deps.taskQueue, logger: log, dispatch: deps.dispatch };

  /** Destinations whose attempts were slow lately (this worker's view): batches hand their deliveries off. */
  const slowUntil = new Map<string, number>();
  const isSlow = (destination: string) => (slowUntil.get(destination) ?? 0) > Date.now();

  async function loadDelivery(key: string): Promise<DeliveryRow | undefined> {
    const { rows } = await pool.query<DeliveryRow>(
      `SELECT ${DELIVERY_COLUMNS} FROM deliveries d LEFT JOIN trigger_actions a ON a.id = d.action_id WHERE d.idempotency_key = $1`,
      [key],
    );
    return rows[0];
  }

  const claimLeaseMs = deps.claimLeaseMs ?? CLAIM_LEASE_MS;

  /**
   * Claims, for `claimLeaseMs`, among a dispatcher's pending deliveries that nobody holds (new ones, and any whose
   * claim expired: its run died, or stalled), every delivery of the firings of the `limit` oldest, and reads them,
   * grouped by firing with each firing's actions in priority order.
   */
  async function claimPending(
    db: pg.ClientBase,
    dispatcherId: string,
    claim: string,
    limit: number,
  ): Promise<DeliveryRow[]> {
    const { rows } = await db.query<DeliveryRow>(
      // Whole firings — those of the `limit` oldest pending deliveries — so a firing's actions stay in one batch, in
      // priority order. A claim from before claims were leases has no expiry: it is free.
      `WITH d AS (
         UPDATE deliveries SET claim = $2, claim_expires_at = now() + make_interval(secs => $4::float8 / 1000) WHERE idempotency_key IN (
           SELECT idempotency_key FROM deliveries
           WHERE workflow_id = $1 AND status = 'pending' AND claim IS DISTINCT FROM $2 AND (claim_expires_at IS NULL OR claim_expires_at < now()) AND match_id IN (
             SELECT match_id FROM deliveries
             WHERE workflow_id = $1 AND status = 'pending' AND claim IS DISTINCT FROM $2 AND (claim_expires_at IS NULL OR claim_expires_at < now())
             ORDER BY created_at LIMIT $3)
           FOR UPDATE SKIP LOCKED)
         RETURNING *)
       SELECT ${DELIVERY_COLUMNS} FROM d LEFT JOIN trigger_actions a ON a.id = d.action_id
       ORDER BY d.match_id, a.priority, a.id`,
      [dispatcherId, claim, limit, claimLeaseMs],
    );
    return rows;
  }

  /** Extends this run's claims on the deliveries it has not settled yet. */
  async function extendClaims(dispatcherId: string, claim: string): Promise<void> {
    await pool.query(
      `UPDATE deliveries SET claim_expires_at = now() + make_interval(secs => $3::float8 / 1000) WHERE workflow_id = $1 AND status = 'pending' AND claim = $2`,
      [dispatcherId, claim, claimLeaseMs],
    );
  }

  /** Of these deliveries, those still claimed by `claim` (not taken over after its lease expired). */
  async function stillClaimed(keys: readonly string[], claim: string): Promise<Set<string>> {
    if (keys.length === 0) return new Set();
    const { rows } = await pool.query<{ idempotency_key: string }>(
      'SELECT idempotency_key FROM deliveries WHERE idempotency_key = ANY($1::text[]) AND claim = $2',
      [keys, claim],
    );
    return new Set(rows.map((r) => r.idempotency_key));
  }

  /**
   * The action's config, validated (schema and templates) once per delivery and attempt path, with its secrets opened:
   * the plan and the send both use it. A secret that does not open for the delivery's organization (sealed for another
   * one, or another field) makes the config invalid.
   */
  function checkConfig(row: DeliveryRow): CheckedConfig {
    const checked = validateActionConfig(row.action_type, row.config ?? {}, templateStateKeys(row.conditions));
    if (!checked.config)
      return { invalid: `invalid action config: ${checked.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}` };
    try {
      return { config: openActionSecrets(row.action_type, checked.config, deps.secrets, row.organization_id) };
    } catch (err) {
      if (err instanceof SecretDecryptionError)
        return {
          invalid: `invalid action config: a secret does not open (${err.message}); save the action with the secret again`,
        };
      throw err;
    }
  }

  const fetchText = async (url: string) => {
    const res = await safeRequest({
      method: 'GET',
      url,
      timeoutMs: 10_000,
      maxResponseBytes: 1024 * 1024,
      allow: deps.allow,
    });
    return { status: res.status, body: res.body };
  };

  async function sendTelegram(
    row: DeliveryRow,
    config: TelegramConfig,
  ): Promise<AttemptOutcome & { excerpt?: string }> {
    const token = config.bot_token ?? deps.telegram.defaultBotToken;
    if (!token)
      return { ok: false, permanent: true, error: 'no bot token: set bot_token on the action or TELEGRAM_BOT_TOKEN' };
    // Checked when saved too; this catches actions saved before chats had to be verified.
    if (!config.bot_token && (await unverifiedChats(pool, row.organization_id, [config.chat_id])).length > 0) {
      return {
        ok: false,
        permanent: true,
        error: `chat ${config.chat_id} is not verified for the organization; the platform bot does not post there: ${chatVerificationHint(row.organization_id)}`,
      };
    }
    const escaping = config.parse_mode === 'MarkdownV2' ? 'markdownv2' : config.parse_mode === 'HTML' ? 'html' : 'none';
    const text = renderTemplate(config.message_template, row.context, escaping);
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
    return {
      ok: false,
      permanent: result.permanent,
      error: result.error,
      status: result.status,
      retryAfterMs: result.retryAfterMs,
    };
  }

  /** The signing secrets of a delivery's REST action. */
  type SecretsOf = (row: DeliveryRow) => Promise<string[]>;
  const secretsNow: SecretsOf = (row) =>
    actionWebhookSecrets(pool, deps.secrets, { actionId: row.action_id!, organizationId: row.organization_id });

  async function sendRest(
    row: DeliveryRow,
    config: RestConfig,
    secretsOf: SecretsOf,
  ): Promise<AttemptOutcome & { excerpt?: string }> {
    const bodyValue =
      config.body_template === undefined
        ? defaultWebhookBody(row.context)
        : renderJsonTemplate(config.body_template, row.context);
    const body = config.method === 'GET' || config.method === 'DELETE' ? '' : JSON.stringify(bodyValue);
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
        method: config.method,
        url: config.url,
        headers,
        body: body || undefined,
        timeoutMs: config.timeout_ms,
        maxResponseBytes: EXCERPT,
        allow: deps.allow,
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
        error: `${config.method} ${new URL(config.url).host} answered ${res.status}`,
        retryAfterMs: retryable ? retryAfterMs(res.headers) : undefined,
      };
    } catch (err) {
      if (err instanceof SsrfError) return { ok: false, permanent: true, error: err.message };
      return { ok: false, permanent: false, error: (err as Error).message };
    }
  }

  async function sendMcp(row: DeliveryRow, config: McpConfig): Promise<AttemptOutcome & { excerpt?: string }> {
    const event = row.context.event;
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
        const current = await currentAgentUri(chainId, agentId);
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
          ? await agentMcpTokenFor(row.organization_id, chainId, agentId)
          : undefined;
      const result = await callMcpTool({
        endpoint: endpoint!,
        toolName: config.tool_name,
        arguments: renderJsonTemplate(config.arguments_template, row.context) as Record<string, unknown>,
        token,
        idempotencyKey: row.idempotency_key,
        timeoutMs: config.timeout_ms,
        fetch: safeFetchWithin(config.timeout_ms),
      });
      if (result.ok)
        return { ok: true, permanent: false, error: '', excerpt: JSON.stringify(result.result).slice(0, EXCERPT) };
      return {
        ok: false,
        permanent: result.permanent,
        error: result.error,
        status: result.status,
        retryAfterMs: result.retryAfterMs,
      };
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

  /** A fetch for the MCP transport that goes through the SSRF checks, bounded by the action's timeout. */
  const safeFetchWithin =
    (timeoutMs: number): typeof fetch =>
    async (input, init) => {
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
        allow: deps.allow,
      });
      const outHeaders = new Headers();
      for (const [k, v] of Object.entries(res.headers))
        if (v !== undefined) outHeaders.set(k, Array.isArray(v) ? v.join(', ') : v);
      return new Response(res.status === 204 || res.status === 202 ? null : res.body, {
        status: res.status,
        headers: outHeaders,
      });
    };

  /**
   * The agent's current registration URI, and a cache key that changes with any later identity event of the agent
   * (URI update, metadata, transfer), so a cached registration file is dropped when the agent changes.
   */
  async function currentAgentUri(
    chainId: number,
    agentId: string,
  ): Promise<{ uri: string; cacheKey: string } | undefined> {
    const { rows } = await pool.query<{ token_uri: string | null; last_seq: string }>(
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
  async function agentMcpTokenFor(
    _organizationId: string,
    chainId: number,
    agentId: string,
  ): Promise<string | undefined> {
    const { rows } = await pool.query<{ token: string }>(
      'SELECT token FROM agent_mcp_tokens WHERE chain_id = $1 AND agent_id = $2',
      [chainId, agentId],
    );
    return rows[0]
      ? deps.secrets.decrypt(rows[0].token, agentSecret(chainId, agentId, 'agent_mcp_tokens.token'))
      : undefined;
  }

  /** What the delivery needs up front, from its row alone; null when there is nothing (left) to deliver. */
  function planOf(row: DeliveryRow | undefined, checked: CheckedConfig | undefined): DeliveryPlan | null {
    if (!row || !checked || row.status === 'delivered' || !row.config) return null;
    let destination = `${row.action_type}:invalid`;
    let retry = DEFAULT_RETRY;
    let timeoutMs = 10_000;
    if (checked.config) {
      destination = destinationOf(row.action_type, checked.config, row.context.agent.key);
      retry = { ...DEFAULT_RETRY, ...(checked.config.retry ?? {}) };
      timeoutMs = checked.config.timeout_ms;
    }
    return { destination, retry, attemptsBefore: row.attempts, timeoutMs };
  }

  /** What the delivery workflow needs up front; null when there is nothing (left) to deliver. */
  async function prepare(
    key: string,
    row: DeliveryRow | undefined,
    checked = row && checkConfig(row),
  ): Promise<DeliveryPlan | null> {
    const plan = planOf(row, checked);
    if (!plan) return null;
    await pool.query(`UPDATE deliveries SET destination = $2, status = 'pending' WHERE idempotency_key = $1`, [
      key,
      plan.destination,
    ]);
    return plan;
  }

  /** Renders and sends; never throws (rendering or config problems are permanent failures). */
  async function send(
    row: DeliveryRow,
    checked: CheckedConfig,
    secretsOf: SecretsOf,
    destination: string,
  ): Promise<{ outcome: AttemptOutcome & { excerpt?: string }; durationMs: number }> {
    const started = performance.now();
    // Marked slow as soon as it is (not when it ends): batches starting meanwhile already hand this destination off.
    const slow = setTimeout(() => slowUntil.set(destination, Date.now() + SLOW_LANE_MS), SLOW_ATTEMPT_MS);
    let outcome: AttemptOutcome & { excerpt?: string };
    try {
      const { config } = checked;
      if (!config) throw new Error(checked.invalid);
      outcome =
        row.action_type === 'telegram'
          ? await sendTelegram(row, config as TelegramConfig)
          : row.action_type === 'rest'
            ? await sendRest(row, config as RestConfig, secretsOf)
            : await sendMcp(row, config as McpConfig);
    } catch (err) {
      // Rendering or config problems do not get better with retries.
      outcome = { ok: false, permanent: true, error: (err as Error).message };
    }
    clearTimeout(slow);
    const durationMs = Math.round(performance.now() - started);
    // A quick answer (from a per-delivery workflow's attempt, say) brings the destination back into the batches.
    if (durationMs < SLOW_ATTEMPT_MS) slowUntil.delete(destination);
    return { outcome, durationMs };
  }

  /** Inserts attempts into action_results: one statement for any number of them. */
  async function insertAttemptResults(records: readonly AttemptRecord[]): Promise<void> {
    if (records.length === 0) return;
    const status = (o: AttemptOutcome) => (o.ok ? 'success' : o.permanent ? 'failed' : 'retrying');
    await pool.query(
      `INSERT INTO action_results (job_id, trigger_id, action_id, event_id, event_seq, action_type, status, duration_ms, error_message, response_data,
         retry_count, idempotency_key, attempt, http_status, destination)
       SELECT 'delivery/' || r.key || '#' || r.attempt, d.trigger_id, d.action_id, d.event_id, d.event_seq, d.action_type, r.status, r.duration_ms,
         r.error, r.response, r.attempt - 1, d.idempotency_key, r.attempt, r.http_status, r.destination
       FROM unnest($1::text[], $2::int4[], $3::text[], $4::int4[], $5::text[], $6::jsonb[], $7::int4[], $8::text[])
         AS r(key, attempt, status, duration_ms, error, response, http_status, destination)
       JOIN deliveries d ON d.idempotency_key = r.key`,
      [
        records.map((r) => r.idempotencyKey),
        records.map((r) => r.attempt),
        records.map((r) => status(r.outcome)),
        records.map((r) => r.durationMs),
        records.map((r) => (r.outcome.ok ? null : r.outcome.error.slice(0, 2_000))),
        records.map((r) =>
          r.outcome.excerpt === undefined ? null : JSON.stringify({ excerpt: r.outcome.excerpt.slice(0, EXCERPT) }),
        ),
        records.map((r) => r.outcome.status ?? null),
        records.map((r) => r.destination),
      ],
    );
  }

  function logFailedAttempts(records: readonly AttemptRecord[]): void {
    for (const r of records) {
      if (!r.outcome.ok)
        log.warn(
          {
            idempotencyKey: r.idempotencyKey,
            attempt: r.attempt,
            permanent: r.outcome.permanent,
            status: r.outcome.status,
            error: r.outcome.error,
          },
          'delivery attempt failed',
        );
    }
  }

  /** One attempt: render, send, record it in action_results, update the delivery and the breaker. */
  async function attempt(
    row: DeliveryRow | undefined,
    { idempotencyKey, attempt, destination }: { idempotencyKey: string; attempt: number; destination: string },
    checked = row && checkConfig(row),
  ): Promise<AttemptOutcome> {
    if (!row || !checked)
      return { ok: false, permanent: true, error: 'the delivery no longer exists (trigger deleted)' };
    const { outcome, durationMs } = await send(row, checked, secretsNow, destination);
    const record = { idempotencyKey, organizationId: row.organization_id, attempt, destination, outcome, durationMs };
    await Promise.all([
      insertAttemptResults([record]),
      pool.query(
        `UPDATE deliveries SET attempts = greatest(attempts, $2), last_error = $3, last_http_status = $4 WHERE idempotency_key = $1`,
        [idempotencyKey, attempt, outcome.ok ? null : outcome.error.slice(0, 2_000), outcome.status ?? null],
      ),
    ]);
    await recordBreakerOutcomes(pool, [breakerOutcome(record)], new Map(), deps.breaker);
    logFailedAttempts([record]);
    const { excerpt: _excerpt, ...result } = outcome;
    return result;
  }

  /** What an attempt tells its organization's breaker of the destination (a tenant's own mistakes tell it nothing). */
  const breakerOutcome = (a: AttemptRecord) => ({
    key: { organizationId: a.organizationId, destination: a.destination },
    health: destinationHealth(a.outcome),
  });

  async function mark(key: string, status: 'parked' | 'delivered' | 'dead', error?: string): Promise<void> {
    await pool.query(
      `UPDATE deliveries SET status = $2, last_error = coalesce($3, last_error),
         delivered_at = CASE WHEN $2 = 'delivered' THEN now() ELSE delivered_at END,
         dead_at = CASE WHEN $2 = 'dead' THEN now() ELSE dead_at END
       WHERE idempotency_key = $1`,
      [key, status, error ?? null],
    );
  }

  /** Starts a delivery's own workflow, which carries on from what the batch did (retries, parking, dead letter). */
  async function handOff(key: string, first: FirstAttempt): Promise<void> {
    try {
      await deps.temporal.workflow.start('deliveryWorkflow', {
        workflowId: `delivery/${key}`,
        taskQueue: deps.taskQueue,
        args: [{ idempotencyKey: key, first }],
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
      });
    } catch (err) {
      // Started by an earlier run of the same batch (rerun after a crash).
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  }

  /**
   * First attempts for a batch of claimed deliveries: each firing's actions in priority order, firings side by side;
   * records every attempt and the final states in a handful of statements whatever the batch size; and hands what did
   * not settle to per-delivery workflows: transient failures
   * (to retry), destinations whose breaker is open (to park) and destinations that answered slowly lately (so that one
   * slow receiver does not hold up the batches behind it).
   */
  async function attemptBatch(rows: DeliveryRow[], claim: string): Promise<BatchResult> {
    const planned = rows.map((row) => {
      const checked = checkConfig(row);
      return { row, checked, plan: planOf(row, checked) };
    });
    // What the attempts need, read side by side: the breakers of the destinations, the signing secrets of webhooks.
    const restActions = rows.flatMap((r) =>
      r.action_type === 'rest' && r.action_id !== null
        ? [{ actionId: r.action_id, organizationId: r.organization_id }]
        : [],
    );
    const [gates, webhookSecrets] = await Promise.all([
      breakerGates(
        pool,
        planned.flatMap((p) =>
          p.plan ? [{ organizationId: p.row.organization_id, destination: p.plan.destination }] : [],
        ),
      ),
      restActions.length > 0 ? webhookSecretsOf(pool, deps.secrets, restActions) : new Map<number, string[]>(),
    ]);
    const secretsOf: SecretsOf = async (row) => webhookSecrets.get(row.action_id!) ?? secretsNow(row);

    const attempts: AttemptRecord[] = [];
    const handOffs: { key: string; first: FirstAttempt }[] = [];
    const settled: {
      key: string;
      status: 'delivered' | 'dead' | 'pending';
      destination: string;
      error: string | null;
      workflowId: string | null;
      attempt: AttemptRecord | null;
    }[] = [];
    const firings = new Map<string, typeof planned>();
    for (const p of planned) {
      const firing = firings.get(p.row.match_id);
      if (firing) firing.push(p);
      else firings.set(p.row.match_id, [p]);
    }
    const runFiring = async (firing: typeof planned) => {
      for (const { row, checked, plan } of firing) {
        const key = row.idempotency_key;
        if (!plan) {
          settled.push({
            key,
            status: 'dead',
            destination: `${row.action_type}:invalid`,
            error: 'the action no longer exists',
            workflowId: null,
            attempt: null,
          });
          continue;
        }
        const gate = gates.get(breakerKeyId({ organizationId: row.organization_id, destination: plan.destination }));
        if (gate?.open || isSlow(plan.destination)) {
          handOffs.push({ key, first: { plan } });
          settled.push({
            key,
            status: 'pending',
            destination: plan.destination,
            error: null,
            workflowId: `delivery/${key}`,
            attempt: null,
          });
          continue;
        }
        const { outcome, durationMs } = await send(row, checked, secretsOf, plan.destination);
        const record: AttemptRecord = {
          idempotencyKey: key,
          organizationId: row.organization_id,
          attempt: plan.attemptsBefore + 1,
          destination: plan.destination,
          outcome,
          durationMs,
        };
        attempts.push(record);
        const { excerpt: _excerpt, ...result } = outcome;
        if (outcome.ok)
          settled.push({
            key,
            status: 'delivered',
            destination: plan.destination,
            error: null,
            workflowId: null,
            attempt: record,
          });
        else if (outcome.permanent)
          settled.push({
            key,
            status: 'dead',
            destination: plan.destination,
            error: outcome.error.slice(0, 2_000),
            workflowId: null,
            attempt: record,
          });
        else {
          handOffs.push({ key, first: { plan, outcome: result } });
          settled.push({
            key,
            status: 'pending',
            destination: plan.destination,
            error: outcome.error.slice(0, 2_000),
            workflowId: `delivery/${key}`,
            attempt: record,
          });
        }
      }
    };
    await forEachConcurrently([...firings.values()], BATCH_CONCURRENCY, runFiring);

    // Hand-offs first: should the worker die before the states below are written, the run that takes over attempts
    // again (same idempotency keys) and finds the delivery workflows already started. Only of deliveries still ours: a
    // run that took over an expired claim carries on with them.
    const ours = await stillClaimed(
      handOffs.map((h) => h.key),
      claim,
    );
    const handedOff = handOffs.filter((h) => ours.has(h.key));
    await forEachConcurrently(handedOff, HAND_OFF_CONCURRENCY, (h) => handOff(h.key, h.first));
    const [, settledRows] = await Promise.all([
      insertAttemptResults(attempts),
      settled.length === 0
        ? undefined
        : pool.query(
            `UPDATE deliveries d SET status = r.status, destination = r.destination,
           attempts = greatest(d.attempts, coalesce(r.attempt, 0)),
           last_error = CASE WHEN r.attempt IS NULL THEN coalesce(r.error, d.last_error) ELSE r.error END,
           last_http_status = CASE WHEN r.attempt IS NULL THEN d.last_http_status ELSE r.http_status END,
           workflow_id = coalesce(r.workflow_id, d.workflow_id),
           delivered_at = CASE WHEN r.status = 'delivered' THEN now() ELSE d.delivered_at END,
           dead_at = CASE WHEN r.status = 'dead' THEN now() ELSE d.dead_at END
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int4[], $7::int4[])
           AS r(key, status, destination, error, workflow_id, attempt, http_status)
         -- Only what is still this run's claim: a run that took over an expired claim settles it.
         WHERE d.idempotency_key = r.key AND d.claim = $8`,
            [
              settled.map((s) => s.key),
              settled.map((s) => s.status),
              settled.map((s) => s.destination),
              settled.map((s) => s.error),
              settled.map((s) => s.workflowId),
              settled.map((s) => s.attempt?.attempt ?? null),
              settled.map((s) => s.attempt?.outcome.status ?? null),
              claim,
            ],
          ),
    ]);
    const lost = settled.length - (settledRows?.rowCount ?? 0);
    if (lost > 0)
      log.warn({ claim, lost }, 'delivery claims expired and were taken over: left to the run that holds them');
    await recordBreakerOutcomes(pool, attempts.map(breakerOutcome), gates, deps.breaker);
    logFailedAttempts(attempts);
    const result: BatchResult = {
      claimed: rows.length,
      delivered: settled.filter((s) => s.status === 'delivered').length,
      dead: settled.filter((s) => s.status === 'dead').length,
      handedOff: handedOff.length,
    };
    log.debug({ claim, ...result }, 'delivery batch');
    return result;
  }

  /**
   * The dispatcher's pump (a long-running activity, one shift): claims the dispatcher's new deliveries in batches and
   * makes their first attempts, a few batches at a time, woken by NOTIFY when deliveries are created and sweeping every
   * couple of seconds besides. Heartbeats throughout; when cancelled (worker shutdown) it stops claiming, gives the
   * batches in flight a moment and leaves the rest to the next run, which takes over its claims.
   */
  async function pumpDeliveries({
    dispatcherId,
    shiftMs,
  }: {
    dispatcherId: string;
    shiftMs: number;
  }): Promise<PumpResult> {
    const ctx = Context.current();
    const claim = `${dispatcherId}#${ctx.info.workflowExecution?.runId ?? 'standalone'}/${ctx.info.activityId}/${ctx.info.attempt}`;
    const pumpLog = log.child({ dispatcherId, claim });
    const cancelled = ctx.cancellationSignal;
    let wake: (() => void) | undefined;
    let woken = true;
    const poke = () => {
      woken = true;
      wake?.();
    };
    // The pump's own connection: it listens, and it claims. A claim need not survive a Postgres crash (the next pump
    // run claims again whatever is pending), so its commit does not wait for the WAL flush: that is on every
    // delivery's path.
    const listener = new pg.Client({
      connectionString: (pool.options as pg.PoolConfig).connectionString,
      application_name: 'erc8004-delivery-pump',
      options: '-c synchronous_commit=off',
    });
    listener.on('notification', (n) => n.payload === dispatcherId && poke());
    // The shift starts once the pump listens: on a busy machine connecting can take longer than a short shift.
    let endAt = Infinity;
    // Without its LISTEN connection the pump would only sweep: it ends its shift, and the next run listens again.
    const listenerLost = (err?: Error) => {
      if (cancelled.aborted || Date.now() >= endAt) return;
      pumpLog.warn({ err }, 'delivery pump LISTEN connection lost; ending the shift early');
      endAt = Date.now();
      poke();
    };
    listener.on('error', listenerLost);
    listener.on('end', () => listenerLost());
    cancelled.addEventListener('abort', poke);
    const result: PumpResult = { batches: 0, claimed: 0, delivered: 0, dead: 0, handedOff: 0 };
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;
    // Claims are extended well before they expire, as long as this run works (also while it drains).
    let extendAt = Date.now() + claimLeaseMs / 3;
    const keepClaims = async () => {
      if (Date.now() < extendAt) return;
      extendAt = Date.now() + claimLeaseMs / 3;
      await extendClaims(dispatcherId, claim);
    };
    try {
      await listener.connect();
      await listener.query(`LISTEN ${DELIVERIES_CREATED_CHANNEL}`);
      if (endAt === Infinity) endAt = Date.now() + shiftMs;
      while (!cancelled.aborted && failure === undefined && Date.now() < endAt) {
        ctx.heartbeat(result);
        await keepClaims();
        if (woken && inFlight.size < PUMP_BATCHES_IN_FLIGHT) {
          woken = false;
          const rows = await claimPending(listener, dispatcherId, claim, PUMP_BATCH_SIZE);
          if (rows.length > 0) {
            // More may be waiting: claim again at once (up to the batches in flight).
            woken = true;
            const batch = attemptBatch(rows, claim)
              .then(
                (r) => {
                  result.batches++;
                  result.claimed += r.claimed;
                  result.delivered += r.delivered;
                  result.dead += r.dead;
                  result.handedOff += r.handedOff;
                },
                (err: unknown) => void (failure ??= err),
              )
              .finally(() => {
                inFlight.delete(batch);
                poke();
              });
            inFlight.add(batch);
            continue;
          }
        }
        await new Promise<void>((resolve) => {
          const sweep = setTimeout(
            () => {
              woken = true;
              resolve();
            },
            Math.min(PUMP_SWEEP_MS, Math.max(0, endAt - Date.now())),
          );
          wake = () => {
            clearTimeout(sweep);
            resolve();
          };
        });
        wake = undefined;
      }
      // The batches in flight finish (cancelled: for a moment only), heartbeating and keeping their claims meanwhile.
      const drained = Promise.all(inFlight);
      const drainUntil = cancelled.aborted ? Date.now() + PUMP_CANCEL_GRACE_MS : Infinity;
      while (inFlight.size > 0 && Date.now() < drainUntil) {
        ctx.heartbeat(result);
        await keepClaims().catch((err: unknown) => pumpLog.warn({ err }, 'could not extend delivery claims'));
        let tick: NodeJS.Timeout | undefined;
        await Promise.race([
          drained,
          new Promise((r) => (tick = setTimeout(r, Math.min(PUMP_SWEEP_MS, drainUntil - Date.now())))),
        ]);
        clearTimeout(tick);
      }
    } finally {
      endAt = 0;
      cancelled.removeEventListener('abort', poke);
      await listener.end().catch(() => undefined);
    }
    // A batch that failed as a whole (Postgres unreachable): the run fails and Temporal retries it; the next run
    // takes over the claims.
    if (failure !== undefined) throw failure;
    if (cancelled.aborted) throw new CancelledFailure('delivery pump cancelled; the next run takes over its claims');
    pumpLog.debug(result, 'delivery pump shift ended');
    return result;
  }

  return {
    startDeliveries(triggerId: string, fired: { eventSeq: string; kind: 'match' | 'absence' }[]): Promise<number> {
      return startDeliveries(
        firingDeps,
        fired.map((f) => ({ triggerId, ...f })),
      );
    },

    /**
     * Safety net, run by the maintenance workflow: the dispatchers of deliveries that have waited over a minute (a
     * dispatcher terminated by hand while a relay still assigns to it, say) are started unless they run. Returns them.
     */
    async ensureWaitingDispatchers(): Promise<string[]> {
      const { rows } = await pool.query<{ workflow_id: string }>(
        `SELECT DISTINCT workflow_id FROM deliveries
         WHERE status = 'pending' AND workflow_id LIKE 'deliveries/%' AND created_at < now() - interval '1 minute'`,
      );
      const ids = rows.map((r) => r.workflow_id);
      for (const workflowId of ids) await ensureDispatcher(deps.temporal, dispatcherTaskQueue(workflowId), workflowId);
      if (ids.length > 0)
        log.warn({ dispatchers: ids }, 'deliveries waited over a minute: made sure their dispatchers run');
      return ids;
    },

    /** A trigger workflow's firings in one local activity: recorded, and their deliveries created. */
    async recordAndDeliver(triggerId: string, matches: MatchRecord[]): Promise<number> {
      await recordMatches(pool, triggerId, matches);
      return startDeliveries(
        firingDeps,
        matches.map((m) => ({ triggerId, eventSeq: m.eventSeq, kind: m.kind })),
      );
    },

    async prepareDelivery(key: string): Promise<DeliveryPlan | null> {
      return prepare(key, await loadDelivery(key));
    },

    /**
     * The gate of the delivery's organization's breaker for `destination`. Without the delivery's key (a workflow
     * started before breakers were per organization) no breaker applies: it attempts, and the attempt feeds its
     * organization's breaker.
     */
    async checkBreaker(destination: string, idempotencyKey?: string) {
      const row =
        idempotencyKey === undefined
          ? undefined
          : (
              await pool.query<{ organization_id: string }>(
                'SELECT organization_id FROM deliveries WHERE idempotency_key = $1',
                [idempotencyKey],
              )
            ).rows[0];
      if (!row) return { open: false, failing: false } as const;
      return breakerGate(pool, { organizationId: row.organization_id, destination });
    },

    async attemptDelivery(args: {
      idempotencyKey: string;
      attempt: number;
      destination: string;
    }): Promise<AttemptOutcome> {
      return attempt(await loadDelivery(args.idempotencyKey), args);
    },

    markDelivery: mark,

    pumpDeliveries,

    /**
     * The common case in one step, run by the delivery workflow as a local activity: prepare, check the breaker and,
     * when it is closed, make the first attempt — marking the delivery delivered when it succeeds. It spares the
     * workflow four activity round trips through the server (and reads the delivery once); anything else continues
     * in the workflow's retry loop.
     */
    async deliverFirstAttempt(key: string): Promise<FirstAttempt> {
      const row = await loadDelivery(key);
      const checked = row && checkConfig(row);
      const plan = await prepare(key, row, checked);
      if (!plan) return { plan: null };
      if ((await breakerGate(pool, { organizationId: row!.organization_id, destination: plan.destination })).open)
        return { plan };
      const outcome = await attempt(
        row,
        { idempotencyKey: key, attempt: plan.attemptsBefore + 1, destination: plan.destination },
        checked,
      );
      if (outcome.ok) await mark(key, 'delivered');
      return { plan, outcome };
    },
  };
}
