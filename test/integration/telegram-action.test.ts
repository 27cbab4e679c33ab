import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  TELEGRAM_MAX_TEXT_LENGTH,
  TelegramLimiter,
  escapeMarkdownV2,
  escapeTelegramHtml,
  htmlToPlainText,
  markdownV2ToPlainText,
  redactTelegramSecrets,
  sendTelegramMessage,
  type SendTelegramMessageOptions,
  type TelegramResult,
} from '../../src/actions/telegram.js';
import {
  parseHtml,
  parseMarkdownV2,
  startTelegramStandIn,
  type TelegramStandIn,
} from '../helpers/telegram-stand-in.js';

const TOKEN = '123456789:AAH-test_SecretTokenValue0123456789abcdef';
const TOKEN_SECRET = TOKEN.split(':')[1]!;
const CHAT = '-1001234567890';

/** A clock that only moves when the test says so; `sleep` registers a timer on it. */
function fakeClock() {
  let t = 0;
  const timers: { at: number; resolve: () => void }[] = [];
  const flush = () => new Promise<void>((resolve) => setImmediate(resolve));
  return {
    now: () => t,
    sleep: (ms: number) => new Promise<void>((resolve) => timers.push({ at: t + ms, resolve })),
    /** Runs timers in time order until none are left (or `until` is reached). */
    async run(until = Number.POSITIVE_INFINITY) {
      await flush();
      for (;;) {
        timers.sort((a, b) => a.at - b.at);
        const next = timers[0];
        if (!next || next.at > until) break;
        timers.shift();
        t = Math.max(t, next.at);
        next.resolve();
        await flush();
      }
      if (until !== Number.POSITIVE_INFINITY) t = Math.max(t, until);
      await flush();
    },
  };
}

/** Acquires for each chat in order (all at once) and returns the fake time at which each was granted. */
async function grantTimes(
  limiter: TelegramLimiter,
  clock: ReturnType<typeof fakeClock>,
  chats: string[],
): Promise<number[]> {
  const times: number[] = [];
  const all = Promise.all(chats.map((chat, i) => limiter.acquire(chat).then(() => (times[i] = clock.now()))));
  await clock.run();
  await all;
  return times;
}

describe('TelegramLimiter (fake clock)', () => {
  it('spaces messages to one chat a second apart: 3 messages take 2 s', async () => {
    const clock = fakeClock();
    const limiter = new TelegramLimiter({ now: clock.now, sleep: clock.sleep });
    expect(await grantTimes(limiter, clock, [CHAT, CHAT, CHAT])).toEqual([0, 1000, 2000]);
    expect(limiter.pending).toBe(0);
  });

  it('lets different chats go at once', async () => {
    const clock = fakeClock();
    const limiter = new TelegramLimiter({ now: clock.now, sleep: clock.sleep });
    expect(await grantTimes(limiter, clock, ['1', '2', '3', '4'])).toEqual([0, 0, 0, 0]);
  });

  it('holds all chats to 30 messages per second together', async () => {
    const clock = fakeClock();
    const limiter = new TelegramLimiter({ now: clock.now, sleep: clock.sleep });
    const chats = Array.from({ length: 90 }, (_, i) => String(i + 1));
    const times = await grantTimes(limiter, clock, chats);
    expect(times.filter((t) => t === 0)).toHaveLength(30); // the burst
    // Then one every 1000/30 ms: the 90th 60 slots after the burst, i.e. about 2 s in.
    expect(times[89]).toBeGreaterThanOrEqual(2000);
    expect(times[89]).toBeLessThanOrEqual(2000 + 60);
    // No sliding second after the burst holds more than 30 + 30 grants.
    for (const start of times)
      expect(times.filter((t) => t >= start && t < start + 1000).length).toBeLessThanOrEqual(60);
    // Grants come in order of arrival (FIFO).
    expect([...times].sort((a, b) => a - b)).toEqual(times);
  });

  it('does not let a busy chat hold up another one', async () => {
    const clock = fakeClock();
    const limiter = new TelegramLimiter({ now: clock.now, sleep: clock.sleep });
    expect(await grantTimes(limiter, clock, ['busy', 'busy', 'busy', 'other'])).toEqual([0, 1000, 2000, 0]);
  });

  it('serves a newcomer while the pump is sleeping', async () => {
    const clock = fakeClock();
    const limiter = new TelegramLimiter({ now: clock.now, sleep: clock.sleep });
    const granted: string[] = [];
    const first = Promise.all([limiter.acquire('a'), limiter.acquire('a').then(() => granted.push('a2'))]);
    await clock.run(300);
    await limiter.acquire('b');
    granted.push(`b@${clock.now()}`);
    await clock.run();
    await first;
    expect(granted).toEqual(['b@300', 'a2']);
    expect(clock.now()).toBe(1000);
  });

  it('honours the configured rates', async () => {
    const clock = fakeClock();
    const limiter = new TelegramLimiter({
      perChatPerSecond: 4,
      globalPerSecond: 2,
      now: clock.now,
      sleep: clock.sleep,
    });
    // Global burst of 2, then one every 500 ms; the chat alone would allow one every 250 ms.
    expect(await grantTimes(limiter, clock, ['x', 'y', 'z', 'x'])).toEqual([0, 0, 500, 1000]);
  });

  it('penalize holds a chat back after a 429', async () => {
    const clock = fakeClock();
    const limiter = new TelegramLimiter({ now: clock.now, sleep: clock.sleep });
    await limiter.acquire(CHAT);
    limiter.penalize(CHAT, 5000);
    expect(await grantTimes(limiter, clock, [CHAT, 'other'])).toEqual([5000, 0]);
  });

  it('rejects nonsensical rates', () => {
    expect(() => new TelegramLimiter({ perChatPerSecond: 0 })).toThrow(RangeError);
    expect(() => new TelegramLimiter({ globalPerSecond: -1 })).toThrow(RangeError);
  });
});

describe('Telegram markup helpers', () => {
  it("the stand-in's MarkdownV2 check accepts correct markup and refuses unescaped reserved characters", () => {
    expect(parseMarkdownV2(`*${escapeMarkdownV2('Agent #42 scored 97.5!')}* _${escapeMarkdownV2('(a-b=c)')}_`)).toBe(
      'Agent #42 scored 97.5! (a-b=c)',
    );
    expect(parseMarkdownV2('[link](https://example.com/a\\)b) and `code . !` and ```js\nx.y()\n```')).toBe(
      'link and code . ! and x.y()\n',
    );
    expect(parseMarkdownV2('>quoted\n__under__ ~strike~ ||spoiler||')).toBe('quoted\nunder strike spoiler');
    expect(() => parseMarkdownV2('Score: 97.5')).toThrow(
      "can't parse entities: Character '.' is reserved and must be escaped with the preceding '\\'",
    );
    expect(() => parseMarkdownV2('Hello!')).toThrow("Character '!' is reserved");
    expect(() => parseMarkdownV2('*bold')).toThrow("Can't find end of the entity starting at byte offset 0");
    expect(() => parseMarkdownV2('trailing \\')).toThrow("Character '\\' is reserved");
  });

  it("the stand-in's HTML check accepts supported tags and refuses the rest", () => {
    expect(parseHtml('<b>bold</b> <a href="https://x.y">link</a> &lt;3 &amp; &#128512;')).toBe('bold link <3 & 😀');
    expect(() => parseHtml('<div>x</div>')).toThrow('Unsupported start tag "div"');
    expect(() => parseHtml('<b>x</i>')).toThrow('Unmatched end tag');
    expect(() => parseHtml('<b>x')).toThrow('Can\'t find end tag corresponding to start tag "b"');
    expect(() => parseHtml('1 < 2')).toThrow(/can't parse entities/);
    expect(parseHtml(escapeTelegramHtml('1 < 2 & "3 > 2"'))).toBe('1 < 2 & "3 > 2"');
  });

  it('our plain-text view of markup agrees with the stand-in on valid input', () => {
    const samples = [
      `*${escapeMarkdownV2('Agent #42: 97.5%!')}*\n_${escapeMarkdownV2('see [docs] (v1.0)')}_`,
      '[link](https://example.com/a\\)b) `code \\` tick` ```\nblock\n```',
      '>quote\n__u__ ~s~ ||sp||',
    ];
    for (const s of samples) expect(markdownV2ToPlainText(s)).toBe(parseMarkdownV2(s));
    const html =
      '<b>bold</b> <i>it</i> <a href="https://x">l</a> &lt;&gt;&amp;&quot; <pre><code class="language-js">x</code></pre>';
    expect(htmlToPlainText(html)).toBe(parseHtml(html));
  });

  it('redacts bot tokens from text', () => {
    expect(redactTelegramSecrets(`POST https://api.telegram.org/bot${TOKEN}/sendMessage failed`, TOKEN)).not.toContain(
      TOKEN_SECRET,
    );
    expect(redactTelegramSecrets(`token ${TOKEN} leaked`)).toBe('token <redacted> leaked');
    expect(redactTelegramSecrets('https://api.telegram.org/bot999:xyz/sendMessage')).toBe(
      'https://api.telegram.org/bot<redacted>/sendMessage',
    );
  });
});

describe('sendTelegramMessage against the Bot API stand-in', () => {
  let standIn: TelegramStandIn;
  const results: TelegramResult[] = [];

  beforeAll(async () => {
    standIn = await startTelegramStandIn({ token: TOKEN, blockedChats: ['777'] });
  });
  afterAll(async () => {
    await standIn.close();
    // Whatever happened, no result ever carried the token.
    for (const r of results) expect(JSON.stringify(r)).not.toContain(TOKEN_SECRET);
  });
  afterEach(() => {
    standIn.messages.length = 0;
  });

  const send = async (overrides: Partial<SendTelegramMessageOptions> = {}) => {
    const result = await sendTelegramMessage({
      baseUrl: standIn.url,
      botToken: TOKEN,
      chatId: CHAT,
      text: 'hello',
      timeoutMs: 5_000,
      ...overrides,
    });
    results.push(result);
    return result;
  };

  it('delivers a MarkdownV2 message and the stand-in records it with its parse mode', async () => {
    const text = `*${escapeMarkdownV2('Agent #42')}* scored ${escapeMarkdownV2('97.5!')}`;
    const result = await send({
      text,
      parseMode: 'MarkdownV2',
      disableWebPagePreview: true,
      idempotencyKey: 'delivery-1',
    });
    expect(result).toMatchObject({ ok: true, status: 200, truncated: false });
    if (!result.ok) throw new Error('unreachable');
    expect(result.messageId).toBeGreaterThan(0);
    expect(result.durationMs).toBeGreaterThanOrEqual(0);
    expect(standIn.messages).toHaveLength(1);
    expect(standIn.messages[0]).toMatchObject({
      messageId: result.messageId,
      chatId: CHAT,
      text,
      parseMode: 'MarkdownV2',
      disableWebPagePreview: true,
      idempotencyKey: 'delivery-1',
    });
    expect(standIn.messages[0]!.body).toMatchObject({ chat_id: CHAT, link_preview_options: { is_disabled: true } });
    expect(standIn.messages[0]!.receivedAt).toBeInstanceOf(Date);
  });

  it('sends plain text without parse_mode and HTML with it', async () => {
    expect((await send({ text: 'Score: 97.5! (plain)' })).ok).toBe(true);
    expect((await send({ text: '<b>Score</b>: 97.5 &lt;', parseMode: 'HTML' })).ok).toBe(true);
    expect(standIn.messages.map((m) => m.parseMode)).toEqual([undefined, 'HTML']);
    expect(standIn.messages[0]!.body).not.toHaveProperty('parse_mode');
    expect(standIn.messages[0]!.body).not.toHaveProperty('link_preview_options');
    expect(standIn.messages[1]!.messageId).toBe(standIn.messages[0]!.messageId + 1);
  });

  it('429 with retry_after → transient with retryAfterMs', async () => {
    standIn.failNext(1, { status: 429, retryAfter: 1 });
    const result = await send();
    expect(result).toMatchObject({
      ok: false,
      permanent: false,
      status: 429,
      retryAfterMs: 1000,
      error: 'Too Many Requests: retry after 1',
    });
    expect(standIn.messages).toHaveLength(0);
    expect((await send()).ok).toBe(true);
  });

  it('429 makes the limiter hold the chat back for retry_after', async () => {
    const clock = fakeClock();
    const limiter = new TelegramLimiter({ now: clock.now, sleep: clock.sleep });
    standIn.failNext(1, { status: 429, retryAfter: 3 });
    expect(await send({ limiter })).toMatchObject({ ok: false, retryAfterMs: 3000 });
    let granted = false;
    const next = limiter.acquire(CHAT).then(() => (granted = true));
    await clock.run(2999);
    expect(granted).toBe(false);
    await clock.run();
    await next;
    expect(clock.now()).toBe(3000);
  });

  it("400 → permanent with Telegram's description", async () => {
    standIn.failNext(1, { status: 400, description: 'Bad Request: chat not found' });
    expect(await send()).toMatchObject({
      ok: false,
      permanent: true,
      status: 400,
      error: 'Bad Request: chat not found',
    });
  });

  it('400 for a group that became a supergroup → permanent, with the new chat id', async () => {
    standIn.failNext(1, { status: 400, migrateToChatId: -1009876543210 });
    expect(await send()).toMatchObject({
      ok: false,
      permanent: true,
      status: 400,
      migrateToChatId: '-1009876543210',
      error: 'Bad Request: group chat was upgraded to a supergroup chat',
    });
  });

  it('403 from a user who blocked the bot → permanent', async () => {
    expect(await send({ chatId: '777' })).toMatchObject({
      ok: false,
      permanent: true,
      status: 403,
      error: 'Forbidden: bot was blocked by the user',
    });
  });

  it('empty text → permanent 400 from the stand-in', async () => {
    expect(await send({ text: '   ' })).toMatchObject({
      ok: false,
      permanent: true,
      status: 400,
      error: 'Bad Request: message text is empty',
    });
  });

  it('401 with a wrong token → permanent, and neither token appears in the result', async () => {
    const wrong = '987654321:AAWrongTokenSecretPart_abcdefghijklmnop';
    const result = await send({ botToken: wrong });
    expect(result).toMatchObject({ ok: false, permanent: true, status: 401, error: 'Unauthorized' });
    const serialized = JSON.stringify(result);
    expect(serialized).not.toContain(wrong.split(':')[1]);
    expect(serialized).not.toContain(TOKEN_SECRET);
    expect(standIn.requests.at(-1)).toMatchObject({ tokenValid: false, status: 401 });
  });

  it('a malformed token fails permanently without a request and without echoing it', async () => {
    const before = standIn.requests.length;
    const result = await send({ botToken: 'not a token/../x' });
    expect(result).toMatchObject({ ok: false, permanent: true });
    expect(JSON.stringify(result)).not.toContain('not a token');
    expect(standIn.requests.length).toBe(before);
  });

  it('500 → transient', async () => {
    standIn.failNext(1, { status: 500 });
    expect(await send()).toMatchObject({ ok: false, permanent: false, status: 500, error: 'Internal Server Error' });
  });

  it('502 with an HTML body from a proxy → transient', async () => {
    standIn.failNext(1, { status: 502, rawBody: '<html><body>502 Bad Gateway</body></html>' });
    const result = await send();
    expect(result).toMatchObject({ ok: false, permanent: false, status: 502 });
    if (result.ok) throw new Error('unreachable');
    expect(result.error).toMatch(/^HTTP 502/);
  });

  it('timeout → transient', async () => {
    standIn.failNext(1, { delayMs: 3_000 });
    const result = await send({ timeoutMs: 200 });
    expect(result).toMatchObject({ ok: false, permanent: false, error: 'Telegram did not answer within 200 ms' });
    expect(result).not.toHaveProperty('status');
  });

  it('a dropped connection → transient', async () => {
    standIn.failNext(1, { disconnect: true });
    const result = await send();
    expect(result).toMatchObject({ ok: false, permanent: false });
    if (result.ok) throw new Error('unreachable');
    expect(result.error).toMatch(/^Telegram request failed/);
  });

  it('a refused connection → transient, without the token in the error', async () => {
    const server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const result = await send({ baseUrl: `http://127.0.0.1:${port}` });
    expect(result).toMatchObject({ ok: false, permanent: false });
    if (result.ok) throw new Error('unreachable');
    expect(result.error).toMatch(/ECONNREFUSED|fetch failed/);
  });

  it('an aborted request (cancelled activity) → transient', async () => {
    standIn.failNext(1, { delayMs: 3_000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    expect(await send({ signal: controller.signal })).toMatchObject({
      ok: false,
      permanent: false,
      error: 'Telegram request was aborted',
    });
  });

  it('MarkdownV2 escaping mistakes are refused by the stand-in → permanent', async () => {
    const result = await send({ text: 'Agent #42 scored 97.5', parseMode: 'MarkdownV2' });
    expect(result).toMatchObject({ ok: false, permanent: true, status: 400 });
    if (result.ok) throw new Error('unreachable');
    expect(result.error).toMatch(/^Bad Request: can't parse entities: Character '#' is reserved/);
    expect(await send({ text: '*unclosed bold', parseMode: 'MarkdownV2' })).toMatchObject({
      ok: false,
      permanent: true,
      status: 400,
    });
    expect(await send({ text: '<div>nope</div>', parseMode: 'HTML' })).toMatchObject({
      ok: false,
      permanent: true,
      status: 400,
    });
    expect(standIn.messages).toHaveLength(0);
  });

  it('truncates plain text over 4096 characters with an ellipsis', async () => {
    const result = await send({ text: 'a'.repeat(5000) });
    expect(result).toMatchObject({ ok: true, truncated: true });
    const sent = standIn.messages[0]!.text;
    expect(sent).toHaveLength(TELEGRAM_MAX_TEXT_LENGTH);
    expect(sent.endsWith('…')).toBe(true);
  });

  it('does not split a surrogate pair when truncating', async () => {
    const result = await send({ text: '😀'.repeat(3000) }); // a pair would straddle the cut at 4095
    expect(result).toMatchObject({ ok: true, truncated: true });
    const sent = standIn.messages[0]!.text;
    expect(sent).toBe(`${'😀'.repeat(2047)}…`);
    expect(sent).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
  });

  it('sends long MarkdownV2 unchanged when its visible text fits, and as truncated plain text when it does not', async () => {
    const fits = escapeMarkdownV2('.'.repeat(3000)); // 6000 characters of markup, 3000 visible
    expect(await send({ text: fits, parseMode: 'MarkdownV2' })).toMatchObject({ ok: true, truncated: false });
    expect(standIn.messages[0]).toMatchObject({ text: fits, parseMode: 'MarkdownV2' });

    const tooLong = `*${escapeMarkdownV2('Report.')}*\n${escapeMarkdownV2('x.'.repeat(3000))}`;
    expect(await send({ text: tooLong, parseMode: 'MarkdownV2' })).toMatchObject({ ok: true, truncated: true });
    const sent = standIn.messages[1]!;
    expect(sent.parseMode).toBeUndefined();
    expect(sent.text.startsWith('Report.\nx.x.')).toBe(true);
    expect(sent.text).toHaveLength(TELEGRAM_MAX_TEXT_LENGTH);
  });

  it('rate limits for real: 3 messages to one chat take two intervals', async () => {
    const limiter = new TelegramLimiter({ perChatPerSecond: 20 }); // 50 ms apart
    const started = performance.now();
    const sent = await Promise.all([1, 2, 3].map((n) => send({ text: `message ${n}`, limiter })));
    const elapsed = performance.now() - started;
    expect(sent.every((r) => r.ok)).toBe(true);
    expect(elapsed).toBeGreaterThanOrEqual(95);
    // Arrival order and gaps depend on HTTP scheduling under load; the pacing itself is covered with a fake clock above.
    expect(standIn.messages.map((m) => m.text).sort()).toEqual(['message 1', 'message 2', 'message 3']);
  });
});
