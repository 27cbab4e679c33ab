/**
 * Standard Webhooks signing: a known-answer vector computed here independently with node:crypto, secret rotation,
 * and every way a delivery must fail verification (tampered body/id/timestamp, expired, malformed secret).
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  WebhookVerificationError,
  decodeWebhookSecret,
  generateWebhookSecret,
  signWebhook,
  verifyWebhook,
  webhookHeaders,
} from '../../src/actions/webhook-signing.js';

// A fixed 32-byte key: 0x00, 0x01, …, 0x1f.
const KEY = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
const SECRET = `whsec_${KEY.toString('base64')}`;
const OTHER_SECRET = `whsec_${Buffer.alloc(24, 7).toString('base64')}`;
const ID = 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W';
const TIMESTAMP = 1_700_000_000;
const BODY = '{"event":"feedback.new","agent_id":"42","value":"0.95","note":"ünïcödé ✓"}';
const NOW = TIMESTAMP * 1000 + 10_000; // 10 s after signing

/** The spec's algorithm, written out directly. */
function referenceSignature(key: Buffer, id: string, timestamp: number, body: string): string {
  return createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
}

describe('generateWebhookSecret', () => {
  it('is whsec_ + base64 of 24–32 random bytes', () => {
    const secret = generateWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+={0,2}$/);
    const bytes = Buffer.from(secret.slice('whsec_'.length), 'base64');
    expect(bytes.length).toBeGreaterThanOrEqual(24);
    expect(bytes.length).toBeLessThanOrEqual(32);
    expect(decodeWebhookSecret(secret)).toEqual(bytes);
  });

  it('is different every time', () => {
    const secrets = new Set(Array.from({ length: 50 }, generateWebhookSecret));
    expect(secrets.size).toBe(50);
  });
});

describe('signWebhook', () => {
  it('matches the known-answer vector computed independently', () => {
    const expected = referenceSignature(KEY, ID, TIMESTAMP, BODY);
    expect(signWebhook({ id: ID, timestamp: TIMESTAMP, body: BODY, secrets: [SECRET] })).toBe(`v1,${expected}`);
    // The same bytes given as a Buffer body.
    expect(signWebhook({ id: ID, timestamp: TIMESTAMP, body: Buffer.from(BODY), secrets: [SECRET] })).toBe(
      `v1,${expected}`,
    );
  });

  it('gives one space-separated v1 entry per secret, in order', () => {
    const header = signWebhook({ id: ID, timestamp: TIMESTAMP, body: BODY, secrets: [SECRET, OTHER_SECRET] });
    expect(header).toBe(
      `v1,${referenceSignature(KEY, ID, TIMESTAMP, BODY)} v1,${referenceSignature(Buffer.alloc(24, 7), ID, TIMESTAMP, BODY)}`,
    );
  });

  it('signs an empty body', () => {
    expect(signWebhook({ id: ID, timestamp: TIMESTAMP, body: '', secrets: [SECRET] })).toBe(
      `v1,${referenceSignature(KEY, ID, TIMESTAMP, '')}`,
    );
  });

  it('refuses no secrets, a bad timestamp or an empty id', () => {
    expect(() => signWebhook({ id: ID, timestamp: TIMESTAMP, body: BODY, secrets: [] })).toThrow(
      /at least one webhook secret/,
    );
    expect(() => signWebhook({ id: ID, timestamp: 1.5, body: BODY, secrets: [SECRET] })).toThrow(
      /integer number of seconds/,
    );
    expect(() => signWebhook({ id: ID, timestamp: -1, body: BODY, secrets: [SECRET] })).toThrow(
      /integer number of seconds/,
    );
    expect(() => signWebhook({ id: '', timestamp: TIMESTAMP, body: BODY, secrets: [SECRET] })).toThrow(/non-empty/);
    expect(() => signWebhook({ id: 'a\r\nb', timestamp: TIMESTAMP, body: BODY, secrets: [SECRET] })).toThrow(
      /whitespace/,
    );
  });
});

describe('malformed secrets', () => {
  const bad: [string, RegExp][] = [
    [KEY.toString('base64'), /must start with "whsec_"/],
    ['whsec_', /standard base64/],
    ['whsec_not base64!!', /standard base64/],
    ['whsec_AAAA-_AA', /standard base64/], // base64url alphabet
    ['whsec_AAAAA', /standard base64/], // bad length
    [`whsec_${Buffer.alloc(16).toString('base64')}`, /24–64 bytes, got 16/],
    [`whsec_${Buffer.alloc(65).toString('base64')}`, /24–64 bytes, got 65/],
  ];
  it.each(bad)('rejects %s', (secret, message) => {
    expect(() => decodeWebhookSecret(secret)).toThrow(message);
    expect(() => signWebhook({ id: ID, timestamp: TIMESTAMP, body: BODY, secrets: [secret] })).toThrow(message);
    expect(() =>
      verifyWebhook({
        headers: webhookHeaders({ id: ID, timestamp: TIMESTAMP, body: BODY, secrets: [SECRET] }),
        body: BODY,
        secret,
        now: NOW,
      }),
    ).toThrow(message);
  });

  it('rejects a malformed secret among valid ones', () => {
    expect(() => signWebhook({ id: ID, timestamp: TIMESTAMP, body: BODY, secrets: [SECRET, 'whsec_oops'] })).toThrow(
      /malformed webhook secret/,
    );
  });
});

describe('webhookHeaders', () => {
  it('gives the three Standard Webhooks headers', () => {
    expect(webhookHeaders({ id: ID, timestamp: TIMESTAMP, body: BODY, secrets: [SECRET] })).toEqual({
      'webhook-id': ID,
      'webhook-timestamp': String(TIMESTAMP),
      'webhook-signature': `v1,${referenceSignature(KEY, ID, TIMESTAMP, BODY)}`,
    });
  });
});

describe('verifyWebhook', () => {
  const headers = webhookHeaders({ id: ID, timestamp: TIMESTAMP, body: BODY, secrets: [SECRET] });

  it('accepts a genuine delivery and returns its id and timestamp', () => {
    expect(verifyWebhook({ headers, body: BODY, secret: SECRET, now: NOW })).toEqual({ id: ID, timestamp: TIMESTAMP });
    expect(verifyWebhook({ headers, body: Buffer.from(BODY), secret: SECRET, now: NOW })).toEqual({
      id: ID,
      timestamp: TIMESTAMP,
    });
  });

  it('accepts headers in any case, and a fetch Headers object', () => {
    const upper = {
      'Webhook-Id': ID,
      'WEBHOOK-TIMESTAMP': String(TIMESTAMP),
      'Webhook-Signature': headers['webhook-signature'],
    };
    expect(verifyWebhook({ headers: upper, body: BODY, secret: SECRET, now: NOW }).id).toBe(ID);
    expect(verifyWebhook({ headers: new Headers(headers), body: BODY, secret: SECRET, now: NOW }).id).toBe(ID);
  });

  it('accepts a signature computed independently', () => {
    const manual = {
      'webhook-id': ID,
      'webhook-timestamp': String(TIMESTAMP),
      'webhook-signature': `v1,${referenceSignature(KEY, ID, TIMESTAMP, BODY)}`,
    };
    expect(() => verifyWebhook({ headers: manual, body: BODY, secret: SECRET, now: NOW })).not.toThrow();
  });

  it('rotation: a delivery signed with old and new secrets verifies with either', () => {
    const rotating = webhookHeaders({ id: ID, timestamp: TIMESTAMP, body: BODY, secrets: [SECRET, OTHER_SECRET] });
    expect(rotating['webhook-signature'].split(' ')).toHaveLength(2);
    expect(() => verifyWebhook({ headers: rotating, body: BODY, secret: SECRET, now: NOW })).not.toThrow();
    expect(() => verifyWebhook({ headers: rotating, body: BODY, secret: OTHER_SECRET, now: NOW })).not.toThrow();
    // A receiver holding both secrets accepts a delivery signed with only one of them.
    expect(() => verifyWebhook({ headers, body: BODY, secret: [OTHER_SECRET, SECRET], now: NOW })).not.toThrow();
    // A third secret matches neither.
    expect(() => verifyWebhook({ headers: rotating, body: BODY, secret: generateWebhookSecret(), now: NOW })).toThrow(
      /no webhook signature matches/,
    );
  });

  it('ignores signature schemes other than v1 and garbage entries', () => {
    const mixed = { ...headers, 'webhook-signature': `v1a,AAAA v2,zzz nonsense ${headers['webhook-signature']}` };
    expect(() => verifyWebhook({ headers: mixed, body: BODY, secret: SECRET, now: NOW })).not.toThrow();
    const noV1 = { ...headers, 'webhook-signature': 'v1a,AAAA v2,abc' };
    expect(() => verifyWebhook({ headers: noV1, body: BODY, secret: SECRET, now: NOW })).toThrow(/no v1 signature/);
  });

  it('fails on a tampered body', () => {
    expect(() => verifyWebhook({ headers, body: BODY.replace('0.95', '0.99'), secret: SECRET, now: NOW })).toThrow(
      WebhookVerificationError,
    );
    expect(() => verifyWebhook({ headers, body: `${BODY} `, secret: SECRET, now: NOW })).toThrow(
      /no webhook signature matches/,
    );
  });

  it('fails on a tampered id', () => {
    expect(() =>
      verifyWebhook({ headers: { ...headers, 'webhook-id': `${ID}x` }, body: BODY, secret: SECRET, now: NOW }),
    ).toThrow(/no webhook signature matches/);
  });

  it('fails on a tampered timestamp (even within tolerance)', () => {
    const shifted = { ...headers, 'webhook-timestamp': String(TIMESTAMP + 1) };
    expect(() => verifyWebhook({ headers: shifted, body: BODY, secret: SECRET, now: NOW })).toThrow(
      /no webhook signature matches/,
    );
  });

  it('fails on a tampered signature and with the wrong secret', () => {
    const sig = headers['webhook-signature'];
    const bytes = Buffer.from(sig.slice(3), 'base64');
    bytes[0] = bytes[0]! ^ 1;
    const flipped = `v1,${bytes.toString('base64')}`;
    expect(() =>
      verifyWebhook({ headers: { ...headers, 'webhook-signature': flipped }, body: BODY, secret: SECRET, now: NOW }),
    ).toThrow(/no webhook signature matches/);
    expect(() => verifyWebhook({ headers, body: BODY, secret: OTHER_SECRET, now: NOW })).toThrow(
      /no webhook signature matches/,
    );
  });

  it('fails on an expired timestamp, and on one too far in the future', () => {
    expect(() => verifyWebhook({ headers, body: BODY, secret: SECRET, now: (TIMESTAMP + 301) * 1000 })).toThrow(
      /too old/,
    );
    expect(() => verifyWebhook({ headers, body: BODY, secret: SECRET, now: (TIMESTAMP - 301) * 1000 })).toThrow(
      /too far in the future/,
    );
    // The boundary is inclusive, and the tolerance is configurable.
    expect(() => verifyWebhook({ headers, body: BODY, secret: SECRET, now: (TIMESTAMP + 300) * 1000 })).not.toThrow();
    expect(() =>
      verifyWebhook({ headers, body: BODY, secret: SECRET, now: (TIMESTAMP + 61) * 1000, toleranceSeconds: 60 }),
    ).toThrow(/too old/);
  });

  it('defaults now to the clock', () => {
    const fresh = Math.floor(Date.now() / 1000);
    const live = webhookHeaders({ id: ID, timestamp: fresh, body: BODY, secrets: [SECRET] });
    expect(() => verifyWebhook({ headers: live, body: BODY, secret: SECRET })).not.toThrow();
    expect(() => verifyWebhook({ headers, body: BODY, secret: SECRET })).toThrow(/too old/);
  });

  it('fails on missing or malformed headers', () => {
    const { 'webhook-id': _id, ...noId } = headers;
    const { 'webhook-timestamp': _ts, ...noTs } = headers;
    const { 'webhook-signature': _sig, ...noSig } = headers;
    expect(() => verifyWebhook({ headers: noId, body: BODY, secret: SECRET, now: NOW })).toThrow(/missing webhook-id/);
    expect(() => verifyWebhook({ headers: noTs, body: BODY, secret: SECRET, now: NOW })).toThrow(
      /missing webhook-timestamp/,
    );
    expect(() => verifyWebhook({ headers: noSig, body: BODY, secret: SECRET, now: NOW })).toThrow(
      /missing webhook-signature/,
    );
    expect(() =>
      verifyWebhook({
        headers: { ...headers, 'webhook-timestamp': '1700000000.5' },
        body: BODY,
        secret: SECRET,
        now: NOW,
      }),
    ).toThrow(/invalid webhook-timestamp/);
    expect(() =>
      verifyWebhook({
        headers: { ...headers, 'webhook-timestamp': 'yesterday' },
        body: BODY,
        secret: SECRET,
        now: NOW,
      }),
    ).toThrow(/invalid webhook-timestamp/);
    expect(() =>
      verifyWebhook({ headers: { ...headers, 'webhook-id': [ID, ID] }, body: BODY, secret: SECRET, now: NOW }),
    ).toThrow(/more than one webhook-id/);
  });
});
