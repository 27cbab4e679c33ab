/**
 * A stand-in for the Telegram Bot API (`POST /bot<token>/sendMessage`) on 127.0.0.1: it answers in the Bot API's
 * formats, validates what Telegram validates (token, chat_id, text, parse_mode, length, MarkdownV2 escaping and
 * HTML tags, minimally) so escaping bugs fail here as they would in production, records every accepted message and
 * lets a test script failures. `getUpdates` (long polling, with `offset` confirming what was read) delivers the
 * messages that users send the bot, which a test makes up with `receive`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StandInMessage {
  messageId: number;
  chatId: string;
  text: string;
  parseMode: string | undefined;
  disableWebPagePreview: boolean;
  receivedAt: Date;
  /** The request's Idempotency-Key header, if any. */
  idempotencyKey?: string;
  /** The request parameters as received. */
  body: Record<string, unknown>;
}

/** Every request that reached a Bot API method, accepted or not (the token is not recorded). */
export interface StandInRequest {
  method: string;
  tokenValid: boolean;
  status: number;
  description?: string;
  at: Date;
}

/** A scripted failure for the next sendMessage request(s). */
export type StandInFailure =
  /** Answer with this HTTP status and Bot API error (429: `retryAfter` seconds; 400: `migrateToChatId`); `rawBody` replaces the JSON. */
  | { status: number; description?: string; retryAfter?: number; migrateToChatId?: number; rawBody?: string }
  /** Wait this long, then answer normally (client timeouts). */
  | { delayMs: number }
  /** Drop the connection without answering (network errors). */
  | { disconnect: true };

export interface TelegramStandIn {
  /** Base URL to pass as `baseUrl` (no trailing slash). */
  url: string;
  /** Accepted messages, in order. */
  messages: StandInMessage[];
  requests: StandInRequest[];
  /** The next `n` sendMessage requests fail as described (queued after earlier scripted failures). */
  failNext(n: number, failure: StandInFailure): void;
  /** A user sends the bot `text` from a chat: queued as an Update for getUpdates. Returns its update_id. */
  receive(message: {
    chatId: string | number;
    text: string;
    chatType?: 'private' | 'group' | 'supergroup' | 'channel';
    title?: string;
  }): number;
  /** Updates not yet confirmed by a getUpdates offset. */
  pendingUpdates(): number;
  close(): Promise<void>;
}

export interface TelegramStandInOptions {
  /** The bot token requests must carry; others get 401 Unauthorized. */
  token: string;
  /** When given, chats not listed answer 400 "Bad Request: chat not found". */
  knownChats?: string[];
  /** Chats whose user blocked the bot: 403 "Forbidden: bot was blocked by the user". */
  blockedChats?: string[];
}

const MAX_TEXT_LENGTH = 4096;
const STATUS_DESCRIPTIONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

class BotApiError extends Error {
  constructor(
    readonly status: number,
    description: string,
    readonly parameters?: Record<string, unknown>,
  ) {
    super(description);
  }
}

export async function startTelegramStandIn(options: TelegramStandInOptions): Promise<TelegramStandIn> {
  const messages: StandInMessage[] = [];
  const requests: StandInRequest[] = [];
  const failures: StandInFailure[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let nextMessageId = 1;
  let closed = false;
  const updates: ({ update_id: number } & Record<string, unknown>)[] = [];
  let nextUpdateId = 1;
  /** Long polls waiting for an update. */
  const pollers = new Set<() => void>();

  const send = (res: http.ServerResponse, status: number, body: unknown) => {
    if (res.destroyed || res.writableEnded) return;
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/html' : 'application/json' });
    res.end(text);
  };
  const delay = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });

  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://stand-in');
      const match = /^\/bot([^/]*)\/([A-Za-z]+)$/.exec(url.pathname);
      if (!match) {
        send(res, 404, { ok: false, error_code: 404, description: 'Not Found' });
        return;
      }
      const token = decodeURIComponent(match[1]!);
      const method = match[2]!;
      const tokenValid = token === options.token;
      const record = (status: number, description?: string) =>
        requests.push({ method, tokenValid, status, ...(description ? { description } : {}), at: new Date() });

      const raw = await readBody(req);
      if (method.toLowerCase() === 'getupdates') {
        if (!tokenValid) {
          record(401, 'Unauthorized');
          send(res, 401, { ok: false, error_code: 401, description: 'Unauthorized' });
          return;
        }
        const params = parseParams(raw, req.headers['content-type'], url.searchParams);
        const offset = Number(params.offset ?? 0);
        // An offset confirms every update below it: Telegram forgets them.
        while (updates.length > 0 && updates[0]!.update_id < offset) updates.shift();
        const timeoutSeconds = Math.min(Number(params.timeout ?? 0), 50);
        if (updates.length === 0 && timeoutSeconds > 0) {
          await new Promise<void>((resolve) => {
            pollers.add(resolve);
            const timer = setTimeout(resolve, timeoutSeconds * 1000);
            timers.add(timer);
            res.on('close', resolve);
          });
          if (closed) return;
        }
        record(200);
        send(res, 200, { ok: true, result: updates.slice(0, Number(params.limit ?? 100)) });
        return;
      }
      if (method.toLowerCase() === 'sendmessage') {
        const failure = failures.shift();
        if (failure && 'disconnect' in failure) {
          record(0, 'disconnected');
          req.socket.destroy();
          return;
        }
        if (failure && 'delayMs' in failure) {
          await delay(failure.delayMs);
          if (closed) return;
        } else if (failure) {
          const description = failure.description ?? defaultDescription(failure);
          record(failure.status, description);
          if (failure.rawBody !== undefined) {
            send(res, failure.status, failure.rawBody);
            return;
          }
          const parameters: Record<string, unknown> = {};
          if (failure.retryAfter !== undefined) parameters.retry_after = failure.retryAfter;
          if (failure.migrateToChatId !== undefined) parameters.migrate_to_chat_id = failure.migrateToChatId;
          send(res, failure.status, {
            ok: false,
            error_code: failure.status,
            description,
            ...(Object.keys(parameters).length ? { parameters } : {}),
          });
          return;
        }
      }

      try {
        if (!tokenValid) throw new BotApiError(401, 'Unauthorized');
        if (method.toLowerCase() !== 'sendmessage') throw new BotApiError(404, 'Not Found');
        const params = parseParams(raw, req.headers['content-type'], url.searchParams);
        const message = acceptMessage(params, options, nextMessageId);
        const idempotencyKey = req.headers['idempotency-key'];
        nextMessageId++;
        messages.push({ ...message, ...(typeof idempotencyKey === 'string' ? { idempotencyKey } : {}) });
        record(200);
        send(res, 200, {
          ok: true,
          result: {
            message_id: message.messageId,
            from: { id: Number(options.token.split(':')[0]) || 1, is_bot: true, first_name: 'Stand-in bot' },
            chat: /^-?\d+$/.test(message.chatId)
              ? { id: Number(message.chatId), type: message.chatId.startsWith('-') ? 'supergroup' : 'private' }
              : { id: -1000000000000 - message.messageId, type: 'channel', username: message.chatId.slice(1) },
            date: Math.floor(message.receivedAt.getTime() / 1000),
            text: message.plainText,
          },
        });
      } catch (err) {
        if (!(err instanceof BotApiError)) throw err;
        record(err.status, err.message);
        send(res, err.status, {
          ok: false,
          error_code: err.status,
          description: err.message,
          ...(err.parameters ? { parameters: err.parameters } : {}),
        });
      }
    } catch (err) {
      send(res, 500, { ok: false, error_code: 500, description: `Internal Server Error: ${(err as Error).message}` });
    }
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    messages,
    requests,
    failNext(n, failure) {
      for (let i = 0; i < n; i++) failures.push(failure);
    },
    receive({ chatId, text, chatType = 'private', title }) {
      const updateId = nextUpdateId++;
      const chat = { id: Number(chatId), type: chatType, ...(title ? { title } : { first_name: 'Tester' }) };
      // Channels send their posts as `channel_post`, other chats as `message`.
      updates.push({
        update_id: updateId,
        [chatType === 'channel' ? 'channel_post' : 'message']: {
          message_id: nextMessageId++,
          from: { id: 4_000_000 + updateId, is_bot: false, first_name: 'Tester' },
          chat,
          date: Math.floor(Date.now() / 1000),
          text,
        },
      });
      for (const wake of pollers) wake();
      pollers.clear();
      return updateId;
    },
    pendingUpdates: () => updates.length,
    close: () =>
      new Promise<void>((resolve) => {
        closed = true;
        for (const wake of pollers) wake();
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function defaultDescription(failure: { status: number; retryAfter?: number; migrateToChatId?: number }): string {
  if (failure.status === 429) return `Too Many Requests: retry after ${failure.retryAfter ?? 1}`;
  if (failure.migrateToChatId !== undefined) return 'Bad Request: group chat was upgraded to a supergroup chat';
  return STATUS_DESCRIPTIONS[failure.status] ?? `Error ${failure.status}`;
}

async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The Bot API takes parameters as JSON, form data or the query string. */
function parseParams(raw: string, contentType: string | undefined, query: URLSearchParams): Record<string, unknown> {
  const params: Record<string, unknown> = Object.fromEntries(query);
  if (!raw) return params;
  if (contentType?.includes('application/json')) {
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      throw new BotApiError(400, "Bad Request: can't parse JSON object");
    }
    if (!body || typeof body !== 'object' || Array.isArray(body))
      throw new BotApiError(400, 'Bad Request: JSON object expected');
    return { ...params, ...(body as Record<string, unknown>) };
  }
  if (contentType?.includes('application/x-www-form-urlencoded'))
    return { ...params, ...Object.fromEntries(new URLSearchParams(raw)) };
  return params;
}

function acceptMessage(
  params: Record<string, unknown>,
  options: TelegramStandInOptions,
  messageId: number,
): Omit<StandInMessage, 'idempotencyKey'> & { plainText: string } {
  const chatIdValue = params.chat_id;
  const chatId =
    typeof chatIdValue === 'number' ? String(chatIdValue) : typeof chatIdValue === 'string' ? chatIdValue.trim() : '';
  if (!chatId) throw new BotApiError(400, 'Bad Request: chat_id is empty');
  if (!/^(-?\d+|@[A-Za-z][A-Za-z0-9_]{3,31})$/.test(chatId)) throw new BotApiError(400, 'Bad Request: chat not found');
  if (options.knownChats && !options.knownChats.includes(chatId))
    throw new BotApiError(400, 'Bad Request: chat not found');
  if (options.blockedChats?.includes(chatId)) throw new BotApiError(403, 'Forbidden: bot was blocked by the user');

  const text =
    typeof params.text === 'string' ? params.text : typeof params.text === 'number' ? String(params.text) : '';
  if (text.trim() === '') throw new BotApiError(400, 'Bad Request: message text is empty');

  const parseModeValue = params.parse_mode;
  const parseMode = typeof parseModeValue === 'string' && parseModeValue !== '' ? parseModeValue : undefined;
  let plainText = text;
  if (parseMode !== undefined) {
    const mode = parseMode.toLowerCase();
    if (mode === 'markdownv2') plainText = parseMarkdownV2(text);
    else if (mode === 'html') plainText = parseHtml(text);
    else if (mode !== 'markdown') throw new BotApiError(400, 'Bad Request: unsupported parse_mode');
  }
  if (plainText.trim() === '') throw new BotApiError(400, 'Bad Request: message text is empty');
  if (plainText.length > MAX_TEXT_LENGTH) throw new BotApiError(400, 'Bad Request: message is too long');

  const preview = params.link_preview_options;
  const linkPreview =
    typeof preview === 'string'
      ? (JSON.parse(preview) as Record<string, unknown>)
      : (preview as Record<string, unknown> | undefined);
  const disableWebPagePreview =
    linkPreview?.is_disabled === true ||
    params.disable_web_page_preview === true ||
    params.disable_web_page_preview === 'true';
  return { messageId, chatId, text, parseMode, disableWebPagePreview, receivedAt: new Date(), body: params, plainText };
}

const entityError = (message: string) => new BotApiError(400, `Bad Request: can't parse entities: ${message}`);
const byteOffset = (text: string, index: number) => Buffer.byteLength(text.slice(0, index), 'utf8');
const reserved = (c: string) => entityError(`Character '${c}' is reserved and must be escaped with the preceding '\\'`);

/**
 * Telegram's MarkdownV2 rules, minimally: reserved characters outside entities must be escaped, entities must be
 * closed, code and pre run to their closing backticks, links are `[text](url)`. Returns the visible text.
 */
export function parseMarkdownV2(text: string): string {
  type Kind = 'bold' | 'italic' | 'underline' | 'strikethrough' | 'spoiler' | 'link';
  const stack: { kind: Kind; start: number }[] = [];
  let plain = '';
  const toggle = (kind: Kind, i: number) => {
    if (stack.at(-1)?.kind === kind) stack.pop();
    else stack.push({ kind, start: i });
  };
  const unclosed = (start: number) =>
    entityError(`Can't find end of the entity starting at byte offset ${byteOffset(text, start)}`);
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    const lineStart = i === 0 || text[i - 1] === '\n';
    if (c === '\\') {
      const next = text.codePointAt(i + 1);
      if (next === undefined || next < 1 || next > 126) throw reserved('\\');
      plain += text[i + 1];
      i += 2;
    } else if (c === '`') {
      const pre = text.startsWith('```', i);
      const start = i;
      let j = i + (pre ? 3 : 1);
      let closedAt = -1;
      let content = '';
      while (j < text.length) {
        if (text[j] === '\\') {
          if (j + 1 >= text.length) break;
          content += text[j + 1];
          j += 2;
        } else if (pre ? text.startsWith('```', j) : text[j] === '`') {
          closedAt = j;
          break;
        } else {
          content += text[j];
          j++;
        }
      }
      if (closedAt === -1) throw unclosed(start);
      if (pre) content = content.replace(/^[\w+#.-]*\n/, '');
      plain += content;
      i = closedAt + (pre ? 3 : 1);
    } else if (c === '*') {
      toggle('bold', i);
      i++;
    } else if (c === '_') {
      if (text[i + 1] === '_') {
        toggle('underline', i);
        i += 2;
      } else {
        toggle('italic', i);
        i++;
      }
    } else if (c === '~') {
      toggle('strikethrough', i);
      i++;
    } else if (c === '|') {
      if (text[i + 1] !== '|') throw reserved('|');
      toggle('spoiler', i);
      i += 2;
    } else if (c === '[' || (c === '!' && text[i + 1] === '[')) {
      stack.push({ kind: 'link', start: i });
      i += c === '!' ? 2 : 1;
    } else if (c === ']') {
      if (stack.at(-1)?.kind !== 'link') throw reserved(']');
      if (text[i + 1] !== '(') throw reserved(']');
      let j = i + 2;
      while (j < text.length && text[j] !== ')') j += text[j] === '\\' ? 2 : 1;
      if (j >= text.length) throw unclosed(stack.at(-1)!.start);
      if (j === i + 2) throw entityError(`Can't find end of a URL at byte offset ${byteOffset(text, i + 1)}`);
      stack.pop();
      i = j + 1;
    } else if (c === '>' && lineStart) {
      i++;
    } else if ('()#+-={}.!>'.includes(c)) {
      throw reserved(c);
    } else {
      plain += c;
      i++;
    }
  }
  if (stack.length > 0) throw unclosed(stack[0]!.start);
  return plain;
}

const HTML_TAGS = new Set([
  'b',
  'strong',
  'i',
  'em',
  'u',
  'ins',
  's',
  'strike',
  'del',
  'span',
  'tg-spoiler',
  'a',
  'tg-emoji',
  'code',
  'pre',
  'blockquote',
]);

/** Telegram's HTML rules, minimally: only supported tags, properly nested and closed, '<' only as a tag. */
export function parseHtml(text: string): string {
  const stack: string[] = [];
  let plain = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '<') {
      const close = text.indexOf('>', i);
      if (close === -1) throw entityError(`Unexpected end of name token at byte offset ${byteOffset(text, i)}`);
      const tag = /^<(\/?)([a-zA-Z][\w-]*)(\s[^>]*)?>$/.exec(text.slice(i, close + 1));
      if (!tag)
        throw entityError(`Unsupported start tag "${text.slice(i + 1, close)}" at byte offset ${byteOffset(text, i)}`);
      const name = tag[2]!.toLowerCase();
      if (tag[1]) {
        const open = stack.pop();
        if (open !== name) {
          throw entityError(
            `Unmatched end tag at byte offset ${byteOffset(text, i)}, expected "</${open ?? ''}>", found "</${name}>"`,
          );
        }
      } else {
        if (!HTML_TAGS.has(name))
          throw entityError(`Unsupported start tag "${name}" at byte offset ${byteOffset(text, i)}`);
        stack.push(name);
      }
      i = close + 1;
    } else if (c === '&') {
      const entity = /^&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);/.exec(text.slice(i, i + 12));
      if (entity) {
        const e = entity[1]!;
        plain +=
          e === 'lt'
            ? '<'
            : e === 'gt'
              ? '>'
              : e === 'amp'
                ? '&'
                : e === 'quot'
                  ? '"'
                  : String.fromCodePoint(e.startsWith('#x') ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
        i += entity[0].length;
      } else {
        plain += c;
        i++;
      }
    } else {
      plain += c;
      i++;
    }
  }
  if (stack.length > 0) throw entityError(`Can't find end tag corresponding to start tag "${stack.at(-1)}"`);
  return plain;
}
