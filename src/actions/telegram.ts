/**
 * Telegram action: one Bot API `sendMessage` call, classified for durable delivery.
 *
 *  - Success → `{ ok: true, messageId }`.
 *  - 429 → transient, with `retryAfterMs` from Telegram's `parameters.retry_after` (the caller must wait that long).
 *  - 400/401/403/404 and other 4xx → permanent: bad chat, bad markup, bot blocked or removed, bad token. Retrying
 *    cannot help; the trigger's configuration has to change.
 *  - 5xx, network errors, timeouts → transient.
 *
 * The bot token is part of the request URL; it never appears in a result, an error or a log line (see
 * `redactTelegramSecrets`).
 *
 * Telegram's limits (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this): about one
 * message per second per chat and 30 per second overall. `TelegramLimiter` enforces both for every delivery in the
 * process; share one instance (`sharedTelegramLimiter()`).
 */

/** Telegram's public Bot API endpoint; tests and self-hosted Bot API servers pass their own `baseUrl`. */
export const TELEGRAM_API_BASE_URL = 'https://api.telegram.org';
/** Longest message text Telegram accepts (after entity parsing), in UTF-16 code units. */
export const TELEGRAM_MAX_TEXT_LENGTH = 4096;

export type TelegramParseMode = 'MarkdownV2' | 'HTML';

export type TelegramResult =
  | {
      ok: true;
      messageId: number;
      status: number;
      /** The text was longer than Telegram allows and was cut (with an ellipsis) before sending. */
      truncated: boolean;
      /** Time spent on the HTTP request (not waiting for the rate limiter), in ms. */
      durationMs: number;
    }
  | {
      ok: false;
      /** true: retrying the same request cannot succeed (bad chat, markup or token; bot blocked). */
      permanent: boolean;
      /** HTTP status, when Telegram answered. */
      status?: number;
      /** Telegram's flood-control wait (429 `retry_after`), in ms. */
      retryAfterMs?: number;
      /** The group became a supergroup: its new chat id (400 `migrate_to_chat_id`); the trigger must be updated. */
      migrateToChatId?: string;
      /** Telegram's description, or what went wrong on the way; never contains the bot token. */
      error: string;
      durationMs: number;
    };

export interface SendTelegramMessageOptions {
  /** Bot API server, default https://api.telegram.org. */
  baseUrl?: string;
  botToken: string;
  /** Numeric chat id (as text) or '@channelusername'. */
  chatId: string;
  text: string;
  parseMode?: TelegramParseMode | undefined;
  disableWebPagePreview?: boolean;
  /** Budget for the HTTP request (connect, send, answer); the limiter's wait does not count. */
  timeoutMs: number;
  /** Process-wide rate limiter; without one the message is sent at once. */
  limiter?: TelegramLimiter;
  /** Sent as the Idempotency-Key header (Telegram ignores it; proxies and our stand-in can use it). */
  idempotencyKey?: string;
  /** Abort the request (e.g. the activity was cancelled); reported as a transient failure. */
  signal?: AbortSignal;
}

// ------------------------------------------------------------------------------------------------------ limiter

export interface TelegramLimiterOptions {
  /** Messages per second to one chat; default 1 (no bursts: messages are spaced 1/perChatPerSecond apart). */
  perChatPerSecond?: number;
  /** Messages per second over all chats; default 30 (bursts up to one second's worth). */
  globalPerSecond?: number;
  /** Clock in ms; default Date.now. */
  now?: () => number;
  /** Waits ms; default setTimeout. Tests inject one that advances a fake clock. */
  sleep?: (ms: number) => Promise<void>;
}

const EPSILON = 1e-9;

class TokenBucket {
  constructor(
    readonly capacity: number,
    /** Tokens per ms. */
    readonly rate: number,
    public tokens: number,
    public updatedAt: number,
  ) {}

  refill(now: number): void {
    if (now > this.updatedAt) {
      this.tokens = Math.min(this.capacity, this.tokens + (now - this.updatedAt) * this.rate);
      this.updatedAt = now;
    }
  }

  get ready(): boolean {
    return this.tokens >= 1 - EPSILON;
  }

  get full(): boolean {
    return this.tokens >= this.capacity - EPSILON;
  }

  /** ms until one token is available (after `refill`). */
  get waitMs(): number {
    return this.ready ? 0 : (1 - this.tokens) / this.rate;
  }
}

interface Waiter {
  chatId: string;
  resolve: () => void;
}

/**
 * Token buckets for Telegram's limits: one per chat (capacity 1, `perChatPerSecond`) and one global (capacity and
 * rate `globalPerSecond`). `acquire` waits until both have a token and takes one from each; it never drops.
 * Waiters are served first come, first served, except that a waiter whose chat is ready does not wait behind one
 * whose chat is not (a busy chat does not hold up the others).
 */
export class TelegramLimiter {
  private readonly perChatRate: number;
  private readonly global: TokenBucket;
  private readonly chats = new Map<string, TokenBucket>();
  private readonly waiters: Waiter[] = [];
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  private pumping = false;
  private wake: (() => void) | undefined;

  constructor(opts: TelegramLimiterOptions = {}) {
    const perChat = opts.perChatPerSecond ?? 1;
    const global = opts.globalPerSecond ?? 30;
    if (!(perChat > 0) || !Number.isFinite(perChat)) throw new RangeError('perChatPerSecond must be a positive number');
    if (!(global > 0) || !Number.isFinite(global)) throw new RangeError('globalPerSecond must be a positive number');
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.perChatRate = perChat / 1000;
    const capacity = Math.max(1, global);
    this.global = new TokenBucket(capacity, global / 1000, capacity, this.now());
  }

  /** Resolves when a message to `chatId` may be sent (the slot is then taken). */
  acquire(chatId: string): Promise<void> {
    const now = this.now();
    if (this.waiters.length === 0) {
      const chat = this.chatBucket(chatId, now);
      this.global.refill(now);
      if (chat.ready && this.global.ready) {
        chat.tokens -= 1;
        this.global.tokens -= 1;
        return Promise.resolve();
      }
    }
    if (this.chats.size > 1000) this.forgetIdleChats(now);
    return new Promise<void>((resolve) => {
      this.waiters.push({ chatId, resolve });
      if (this.pumping) this.wake?.();
      else void this.pump();
    });
  }

  /**
   * Telegram answered 429 for this chat: hold its next message back for `ms` (on top of the usual spacing for
   * messages already queued).
   */
  penalize(chatId: string, ms: number): void {
    if (!(ms > 0)) return;
    const chat = this.chatBucket(chatId, this.now());
    chat.tokens = Math.min(chat.tokens, 1 - ms * chat.rate);
    this.wake?.();
  }

  /** Messages waiting for a slot. */
  get pending(): number {
    return this.waiters.length;
  }

  private chatBucket(chatId: string, now: number): TokenBucket {
    let bucket = this.chats.get(chatId);
    if (!bucket) {
      bucket = new TokenBucket(1, this.perChatRate, 1, now);
      this.chats.set(chatId, bucket);
    } else {
      bucket.refill(now);
    }
    return bucket;
  }

  /** A chat whose bucket is full behaves exactly like one we never saw: drop it to keep the map small. */
  private forgetIdleChats(now: number): void {
    const waiting = new Set(this.waiters.map((w) => w.chatId));
    for (const [chatId, bucket] of this.chats) {
      bucket.refill(now);
      if (bucket.full && !waiting.has(chatId)) this.chats.delete(chatId);
    }
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (this.waiters.length > 0) {
        const now = this.now();
        this.global.refill(now);
        let waitMs = Number.POSITIVE_INFINITY;
        const blocked = new Set<string>();
        for (let i = 0; i < this.waiters.length;) {
          const waiter = this.waiters[i]!;
          if (blocked.has(waiter.chatId)) {
            i++;
            continue;
          }
          const chat = this.chatBucket(waiter.chatId, now);
          if (chat.ready && this.global.ready) {
            chat.tokens -= 1;
            this.global.tokens -= 1;
            this.waiters.splice(i, 1);
            waiter.resolve();
            continue;
          }
          // Later messages to the same chat stay behind this one.
          blocked.add(waiter.chatId);
          waitMs = Math.min(waitMs, Math.max(chat.waitMs, this.global.waitMs));
          i++;
        }
        if (this.waiters.length === 0) break;
        await this.pause(Math.max(1, Math.ceil(waitMs - EPSILON)));
      }
    } finally {
      this.pumping = false;
      this.wake = undefined;
    }
  }

  /** Sleeps `ms`, or less when a new waiter (or a penalty) arrives. */
  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wake = resolve;
      this.sleep(ms).then(resolve, resolve);
    });
  }
}

let shared: TelegramLimiter | undefined;

/** The process-wide limiter every Telegram delivery in this worker should share. */
export function sharedTelegramLimiter(): TelegramLimiter {
  shared ??= new TelegramLimiter();
  return shared;
}

// ------------------------------------------------------------------------------------------------------ sending

const TOKEN_PATTERN = /^[A-Za-z0-9:_-]+$/;

/** Removes bot tokens (the given one, and anything shaped like one) from `text`. */
export function redactTelegramSecrets(text: string, botToken?: string): string {
  let out = text;
  if (botToken) out = out.split(botToken).join('<redacted>');
  if (botToken) out = out.split(encodeURIComponent(botToken)).join('<redacted>');
  return out.replace(/\/bot[^/\s?#]+/g, '/bot<redacted>').replace(/\b\d{6,}:[A-Za-z0-9_-]{30,}\b/g, '<redacted>');
}

/** Escapes text for a MarkdownV2 message (outside entities): every reserved character gets a backslash. */
export function escapeMarkdownV2(text: string): string {
  return text.replace(/[_*[\]()~`>#+\-=|{}.!\\]/g, '\\$&');
}

/** Escapes text for an HTML message. */
const HTML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export function escapeTelegramHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ENTITIES[c]!);
}

/** Sends one message with the Bot API's sendMessage; never throws for delivery problems. */
export async function sendTelegramMessage(options: SendTelegramMessageOptions): Promise<TelegramResult> {
  const { botToken, chatId, timeoutMs } = options;
  const baseUrl = (options.baseUrl ?? TELEGRAM_API_BASE_URL).replace(/\/+$/, '');
  if (!botToken || !TOKEN_PATTERN.test(botToken)) {
    return {
      ok: false,
      permanent: true,
      error: 'The bot token is malformed (expected <bot id>:<secret>)',
      durationMs: 0,
    };
  }
  if (!chatId) return { ok: false, permanent: true, error: 'No chat id given', durationMs: 0 };

  const prepared = prepareText(options.text, options.parseMode);
  if (options.limiter) await options.limiter.acquire(chatId);

  const body: Record<string, unknown> = { chat_id: chatId, text: prepared.text };
  if (prepared.parseMode) body.parse_mode = prepared.parseMode;
  if (options.disableWebPagePreview) body.link_preview_options = { is_disabled: true };
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  if (options.idempotencyKey) headers['idempotency-key'] = options.idempotencyKey;

  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  let response: Response;
  let responseText: string;
  try {
    response = await fetch(`${baseUrl}/bot${botToken}/sendMessage`, {
      method: 'POST',
      headers,
      body: JSON.stringify(body),
      signal,
      redirect: 'error',
    });
    responseText = await response.text();
  } catch (err) {
    const error = timeout.aborted
      ? `Telegram did not answer within ${timeoutMs} ms`
      : options.signal?.aborted
        ? 'Telegram request was aborted'
        : `Telegram request failed: ${describeError(err)}`;
    return { ok: false, permanent: false, error: redactTelegramSecrets(error, botToken), durationMs: elapsed() };
  }
  const durationMs = elapsed();
  const status = response.status;
  const payload = parseJson(responseText);

  if (response.ok && payload?.ok === true) {
    const messageId = (payload.result as { message_id?: unknown } | undefined)?.message_id;
    if (typeof messageId === 'number')
      return { ok: true, messageId, status, truncated: prepared.truncated, durationMs };
  }

  // Telegram's HTTP status and error_code agree; an error body behind HTTP 200 is classified by its error_code.
  const code = response.ok && typeof payload?.error_code === 'number' ? payload.error_code : status;
  const parameters = (payload?.parameters ?? {}) as { retry_after?: unknown; migrate_to_chat_id?: unknown };
  let description: string;
  if (typeof payload?.description === 'string' && payload.description) description = payload.description;
  else if (response.ok) description = `Unexpected answer from Telegram (HTTP ${status}): ${snippet(responseText)}`;
  else
    description = `HTTP ${status}${response.statusText ? ` ${response.statusText}` : ''}${responseText ? `: ${snippet(responseText)}` : ''}`;

  const result: Extract<TelegramResult, { ok: false }> = {
    ok: false,
    permanent: isPermanent(code),
    status,
    error: redactTelegramSecrets(description, botToken),
    durationMs,
  };
  if (code === 429) {
    const seconds =
      typeof parameters.retry_after === 'number' ? parameters.retry_after : Number(response.headers.get('retry-after'));
    if (Number.isFinite(seconds) && seconds >= 0) {
      result.retryAfterMs = Math.round(seconds * 1000);
      options.limiter?.penalize(chatId, result.retryAfterMs);
    }
  }
  if (typeof parameters.migrate_to_chat_id === 'number' || typeof parameters.migrate_to_chat_id === 'string') {
    result.migrateToChatId = String(parameters.migrate_to_chat_id);
  }
  return result;
}

/** 4xx other than 408 (timeout) and 429 (flood control) cannot be fixed by retrying. */
function isPermanent(code: number): boolean {
  return code >= 400 && code < 500 && code !== 408 && code !== 429;
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat || '(empty body)';
}

function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause as { code?: unknown; message?: unknown } | undefined;
  const detail =
    cause && typeof cause === 'object' ? (typeof cause.code === 'string' ? cause.code : cause.message) : undefined;
  return detail && typeof detail === 'string' && !err.message.includes(detail)
    ? `${err.message} (${detail})`
    : err.message;
}

// ------------------------------------------------------------------------------------------------------ length

interface PreparedText {
  text: string;
  parseMode: TelegramParseMode | undefined;
  truncated: boolean;
}

/**
 * Keeps the message within Telegram's 4096 characters. Plain text longer than that is cut and ends with '…'.
 * Formatted text is measured after markup is removed (that is what Telegram counts); when even that is too long it
 * is sent as truncated plain text, since cutting markup blindly breaks it (an unclosed entity, a dangling '\') and
 * Telegram would refuse the whole message.
 */
export function prepareText(text: string, parseMode: TelegramParseMode | undefined): PreparedText {
  if (text.length <= TELEGRAM_MAX_TEXT_LENGTH) return { text, parseMode, truncated: false };
  if (!parseMode) return { text: truncate(text), parseMode, truncated: true };
  const plain = parseMode === 'HTML' ? htmlToPlainText(text) : markdownV2ToPlainText(text);
  if (plain.length <= TELEGRAM_MAX_TEXT_LENGTH) return { text, parseMode, truncated: false };
  return { text: truncate(plain), parseMode: undefined, truncated: true };
}

function truncate(text: string): string {
  let end = TELEGRAM_MAX_TEXT_LENGTH - 1;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1; // don't split a surrogate pair
  return `${text.slice(0, end)}…`;
}

/** The visible text of a MarkdownV2 message: escapes resolved, entity markers and link targets removed. */
export function markdownV2ToPlainText(text: string): string {
  let out = '';
  let i = 0;
  const atLineStart = () => out.length === 0 || out.endsWith('\n');
  while (i < text.length) {
    const c = text[i]!;
    if (c === '\\' && i + 1 < text.length) {
      out += text[i + 1];
      i += 2;
    } else if (text.startsWith('```', i)) {
      // Pre block: an optional language on the opening line, then the code up to the closing ```.
      let j = i + 3;
      const newline = text.indexOf('\n', j);
      const close = findUnescaped(text, '```', j);
      if (newline !== -1 && (close === -1 || newline < close) && /^[\w+#.-]*$/.test(text.slice(j, newline)))
        j = newline + 1;
      const end = close === -1 ? text.length : close;
      out += unescapeCode(text.slice(j, end));
      i = close === -1 ? text.length : close + 3;
    } else if (c === '`') {
      const close = findUnescaped(text, '`', i + 1);
      const end = close === -1 ? text.length : close;
      out += unescapeCode(text.slice(i + 1, end));
      i = close === -1 ? text.length : close + 1;
    } else if (c === ']' && text[i + 1] === '(') {
      const close = findUnescaped(text, ')', i + 2);
      i = close === -1 ? text.length : close + 1;
    } else if (c === '!' && text[i + 1] === '[') {
      i += 1;
    } else if (c === '*' || c === '_' || c === '~' || c === '|' || c === '[' || (c === '>' && atLineStart())) {
      i += 1;
    } else {
      out += c;
      i += 1;
    }
  }
  return out;
}

function findUnescaped(text: string, needle: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text.startsWith(needle, i)) return i;
  }
  return -1;
}

function unescapeCode(text: string): string {
  return text.replace(/\\([`\\])/g, '$1');
}

/** The visible text of an HTML message: tags removed, entities decoded. */
export function htmlToPlainText(text: string): string {
  return text
    .replace(/<\/?[a-zA-Z][\w-]*(?:\s[^>]*)?>/g, '')
    .replace(/&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);/g, (_, entity: string) => {
      if (entity === 'lt') return '<';
      if (entity === 'gt') return '>';
      if (entity === 'amp') return '&';
      if (entity === 'quot') return '"';
      const code = entity.startsWith('#x') ? parseInt(entity.slice(2), 16) : parseInt(entity.slice(1), 10);
      return code <= 0x10ffff ? String.fromCodePoint(code) : '';
    });
}
