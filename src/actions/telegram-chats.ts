/**
 * Chats the platform's bot (TELEGRAM_BOT_TOKEN) may post to for an organization: only those that proved they belong
 * to it. The organization asks for a one-time code (valid LINK_CODE_TTL_MINUTES); someone in the chat sends the bot
 * `/start <code>` (or the code alone); the bot learns it through getUpdates (`TelegramChatVerifier`, run by a worker)
 * and records the chat as the organization's. A Telegram action without its own `bot_token` is refused when saved
 * unless its chat is verified for the organization, and a delivery checks again before it sends.
 *
 * Codes are stored as SHA-256 hashes and used once. Chats are recorded by numeric id: a `@username` can change hands.
 */
import { createHash, randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { Queryable } from '../db/transaction.js';
import { acquireSingletonLock, type SingletonLock } from '../db/singleton-lock.js';
import type { Logger } from '../logger.js';
import { redactTelegramSecrets, sendTelegramMessage } from './telegram.js';

export const LINK_CODE_TTL_MINUTES = 60;
const CODE_PREFIX = 'org_';
const CODE_PATTERN = /^org_[A-Za-z0-9_-]{20}$/;

const hashCode = (code: string) => createHash('sha256').update(code).digest('hex');

/** How to verify a chat, for error messages and the API. */
export function chatVerificationHint(organizationId: string): string {
  return (
    `ask for a code with POST /api/v1/organizations/${organizationId}/telegram/chat-codes, send "/start <code>" to the ` +
    `platform bot from that chat (in a group, add the bot first), then save again; or give the action its own bot_token`
  );
}

/** A fresh one-time code for `organizationId`. */
export async function createChatLinkCode(
  db: Queryable,
  organizationId: string,
  createdBy: string | null,
): Promise<{ code: string; expiresAt: Date }> {
  // 15 random bytes: 20 base64url characters, within what Telegram allows in a /start deep link.
  const code = `${CODE_PREFIX}${randomBytes(15).toString('base64url')}`;
  const { rows } = await db.query<{ expires_at: Date }>(
    `INSERT INTO telegram_chat_link_codes (code_hash, organization_id, created_by, expires_at)
     VALUES ($1, $2, $3, now() + make_interval(mins => $4)) RETURNING expires_at`,
    [hashCode(code), organizationId, createdBy, LINK_CODE_TTL_MINUTES],
  );
  return { code, expiresAt: rows[0]!.expires_at };
}

export interface VerifiedChat {
  chatId: string;
  title: string | null;
  verifiedAt: Date;
}

export async function listVerifiedChats(db: Queryable, organizationId: string): Promise<VerifiedChat[]> {
  const { rows } = await db.query<{ chat_id: string; title: string | null; verified_at: Date }>(
    'SELECT chat_id, title, verified_at FROM telegram_verified_chats WHERE organization_id = $1 ORDER BY verified_at',
    [organizationId],
  );
  return rows.map((r) => ({ chatId: r.chat_id, title: r.title, verifiedAt: r.verified_at }));
}

/** Those of `chatIds` that are not verified for the organization. */
export async function unverifiedChats(
  db: Queryable,
  organizationId: string,
  chatIds: readonly string[],
): Promise<string[]> {
  if (chatIds.length === 0) return [];
  const { rows } = await db.query<{ chat_id: string }>(
    'SELECT chat_id FROM telegram_verified_chats WHERE organization_id = $1 AND chat_id = ANY($2::text[])',
    [organizationId, [...new Set(chatIds)]],
  );
  const verified = new Set(rows.map((r) => r.chat_id));
  return chatIds.filter((id) => !verified.has(id));
}

/** Uses a code for a chat (at most once, before it expires); the organization it verified the chat for, if any. */
export async function redeemChatLinkCode(
  db: Queryable,
  code: string,
  chat: { id: string; title: string | null },
): Promise<string | undefined> {
  const { rows } = await db.query<{ organization_id: string }>(
    `WITH used AS (
       UPDATE telegram_chat_link_codes SET used_at = now(), chat_id = $2
       WHERE code_hash = $1 AND used_at IS NULL AND expires_at > now()
       RETURNING organization_id)
     INSERT INTO telegram_verified_chats (organization_id, chat_id, title)
     SELECT organization_id, $2, $3 FROM used
     ON CONFLICT (organization_id, chat_id) DO UPDATE SET title = EXCLUDED.title, verified_at = now()
     RETURNING organization_id::text AS organization_id`,
    [hashCode(code), chat.id, chat.title],
  );
  return rows[0]?.organization_id;
}

/** The code in a message sent to the bot: `/start <code>`, `/start@bot <code>`, or the code alone. */
export function linkCodeInMessage(text: unknown): string | undefined {
  if (typeof text !== 'string') return undefined;
  const trimmed = text.trim();
  const start = /^\/start(?:@\w+)?\s+(\S+)$/.exec(trimmed);
  const candidate = start ? start[1]! : trimmed;
  return CODE_PATTERN.test(candidate) ? candidate : undefined;
}

interface TelegramUpdate {
  update_id: number;
  message?: TelegramIncoming;
  channel_post?: TelegramIncoming;
}
interface TelegramIncoming {
  chat?: { id?: number; title?: string; username?: string; first_name?: string };
  text?: string;
}

export interface TelegramChatVerifierOptions {
  pool: pg.Pool;
  logger: Logger;
  baseUrl: string;
  botToken: string;
  /** getUpdates long-poll timeout, seconds (Telegram allows up to 50). */
  pollSeconds?: number;
  /** Pause after a failed poll, ms. */
  retryMs?: number;
}

/**
 * Reads what chats send the platform bot (getUpdates long polling) and verifies the chats that send a valid code,
 * answering in the chat. Telegram serves one getUpdates reader per bot, so one process reads at a time: the holder of
 * a Postgres advisory lock; the others retry for the lock now and then.
 */
export class TelegramChatVerifier {
  private readonly log: Logger;
  private readonly stopping = new AbortController();
  private running: Promise<void> | undefined;
  private offset = 0;

  constructor(private readonly options: TelegramChatVerifierOptions) {
    this.log = options.logger.child({ component: 'telegram-chat-verifier' });
  }

  start(): void {
    this.running ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.running;
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopping.signal.aborted) return resolve();
      const timer = setTimeout(resolve, ms);
      this.stopping.signal.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });
  }

  private async run(): Promise<void> {
    const retryMs = this.options.retryMs ?? 5_000;
    while (!this.stopping.signal.aborted) {
      let lock: SingletonLock | undefined;
      try {
        lock = await acquireSingletonLock(this.options.pool, {
          key: 'telegram-get-updates',
          logger: this.log,
          signal: this.stopping.signal,
          standbyMs: retryMs * 6,
        });
        if (!lock) return;
        this.log.info('reading the platform bot updates (chat verification)');
        const stop = AbortSignal.any([this.stopping.signal, lock.lost]);
        while (!stop.aborted) await this.pollOnce(stop);
        if (lock.lost.aborted) throw lock.error();
      } catch (err) {
        this.log.warn(
          { err: redactTelegramSecrets((err as Error).message, this.options.botToken) },
          'reading the platform bot updates failed; retrying',
        );
      } finally {
        await lock?.release();
      }
      await this.pause(retryMs);
    }
  }

  /** One getUpdates long poll, and the codes in what it brought; `stop` ends it early (shutdown, lost lock). */
  private async pollOnce(stop: AbortSignal): Promise<void> {
    const { baseUrl, botToken } = this.options;
    const pollSeconds = this.options.pollSeconds ?? 25;
    const signal = AbortSignal.any([stop, AbortSignal.timeout((pollSeconds + 10) * 1000)]);
    let updates: TelegramUpdate[];
    try {
      const res = await fetch(`${baseUrl.replace(/\/+$/, '')}/bot${botToken}/getUpdates`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          offset: this.offset,
          timeout: pollSeconds,
          allowed_updates: ['message', 'channel_post'],
        }),
        signal,
      });
      const payload = (await res.json()) as { ok?: boolean; result?: TelegramUpdate[]; description?: string };
      if (!res.ok || payload.ok !== true || !Array.isArray(payload.result)) {
        // 409: a webhook is set, or another reader polls (outside this database's lock).
        throw new Error(`getUpdates answered ${res.status}: ${payload.description ?? 'no description'}`);
      }
      updates = payload.result;
    } catch (err) {
      if (stop.aborted) return;
      throw err;
    }
    for (const update of updates) {
      await this.handle(update);
      // Confirmed with the next poll: Telegram drops what is below the offset.
      this.offset = Math.max(this.offset, update.update_id + 1);
    }
  }

  private async handle(update: TelegramUpdate): Promise<void> {
    const incoming = update.message ?? update.channel_post;
    const chatId = incoming?.chat?.id;
    const code = linkCodeInMessage(incoming?.text);
    if (!incoming || chatId === undefined || !code) return;
    const chat = {
      id: String(chatId),
      title: incoming.chat?.title ?? (incoming.chat?.username ? `@${incoming.chat.username}` : null),
    };
    const organizationId = await redeemChatLinkCode(this.options.pool, code, chat);
    this.log.info({ chatId: chat.id, organizationId, verified: !!organizationId }, 'chat verification code received');
    const text = organizationId
      ? `This chat is verified: the organization's Telegram actions may post here with chat_id ${chat.id}.`
      : 'This code is unknown, used or expired: ask your organization for a new one.';
    const reply = await sendTelegramMessage({
      baseUrl: this.options.baseUrl,
      botToken: this.options.botToken,
      chatId: chat.id,
      text,
      timeoutMs: 10_000,
    });
    if (!reply.ok) this.log.warn({ chatId: chat.id, error: reply.error }, 'could not answer a chat verification');
  }
}
