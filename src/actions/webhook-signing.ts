/**
 * Signed webhooks, following the Standard Webhooks specification (https://www.standardwebhooks.com/).
 *
 * Every delivery carries three headers:
 *  - `webhook-id`        a unique message id, the same for every retry of one delivery (receivers dedupe on it);
 *  - `webhook-timestamp` integer seconds since the Unix epoch, when this attempt was signed;
 *  - `webhook-signature` space-separated `v1,<base64 signature>` entries, one per active secret, where the
 *                        signature is HMAC-SHA256(key, `${id}.${timestamp}.${body}`) and key is the base64-decoded
 *                        part of the secret after `whsec_`.
 * Several secrets are used during a rotation window: the receiver accepts the delivery if any entry matches.
 *
 * Verifying on the receiver's side (what `verifyWebhook` does, and what any Standard Webhooks library does):
 *  1. take the raw request body exactly as received (before any JSON parsing);
 *  2. recompute the HMAC over `${webhook-id}.${webhook-timestamp}.${body}` with your secret;
 *  3. compare it, in constant time, with each `v1,` entry of `webhook-signature`;
 *  4. reject timestamps further than a few minutes (default 5) from your clock, to stop replays.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const SECRET_PREFIX = 'whsec_';
/** The spec recommends secrets of 24 to 64 bytes. */
const MIN_SECRET_BYTES = 24;
const MAX_SECRET_BYTES = 64;
const SIGNATURE_VERSION = 'v1';
const HMAC_BYTES = 32;

export const DEFAULT_TOLERANCE_SECONDS = 300;

/** A signature or its headers failed verification; the message says why. */
export class WebhookVerificationError extends Error {
  override name = 'WebhookVerificationError';
}

export interface WebhookSignInput {
  /** The message id (`webhook-id`); keep it stable across retries of one delivery. */
  id: string;
  /** Integer seconds since the Unix epoch (`webhook-timestamp`). */
  timestamp: number;
  /** The exact request body sent. */
  body: string | Uint8Array;
  /** Active secrets (`whsec_<base64>`); more than one during a rotation window. */
  secrets: string[];
}

/** A type alias (not an interface) so it fits `Record<string, string>` header maps. */
export type WebhookHeaders = {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
};

/** A fresh secret: `whsec_` followed by the base64 of 32 random bytes. */
export function generateWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

/** The key bytes of a `whsec_<base64>` secret; throws if the secret is malformed. */
export function decodeWebhookSecret(secret: string): Buffer {
  if (typeof secret !== 'string' || !secret.startsWith(SECRET_PREFIX)) {
    throw new Error(`malformed webhook secret: must start with "${SECRET_PREFIX}"`);
  }
  const encoded = secret.slice(SECRET_PREFIX.length);
  // Node's base64 decoder ignores junk; insist on canonical base64 so a typo never silently yields another key.
  if (encoded.length === 0 || encoded.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) {
    throw new Error(`malformed webhook secret: the part after "${SECRET_PREFIX}" must be standard base64`);
  }
  const key = Buffer.from(encoded, 'base64');
  if (key.toString('base64') !== encoded) {
    throw new Error(`malformed webhook secret: the part after "${SECRET_PREFIX}" must be standard base64`);
  }
  if (key.length < MIN_SECRET_BYTES || key.length > MAX_SECRET_BYTES) {
    throw new Error(
      `malformed webhook secret: must decode to ${MIN_SECRET_BYTES}–${MAX_SECRET_BYTES} bytes, got ${key.length}`,
    );
  }
  return key;
}

function checkId(id: string): void {
  if (typeof id !== 'string' || id.length === 0) throw new Error('webhook id must be a non-empty string');
  // eslint-disable-next-line no-control-regex
  if (/[\s\x00-\x1f\x7f]/.test(id)) throw new Error('webhook id must not contain whitespace or control characters');
}

function checkTimestamp(timestamp: number): void {
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new Error(`webhook timestamp must be a non-negative integer number of seconds, got ${String(timestamp)}`);
  }
}

function hmac(key: Buffer, id: string, timestamp: number, body: string | Uint8Array): Buffer {
  const mac = createHmac('sha256', key);
  mac.update(`${id}.${timestamp}.`, 'utf8');
  mac.update(typeof body === 'string' ? Buffer.from(body, 'utf8') : body);
  return mac.digest();
}

/** The `webhook-signature` header value: `v1,<base64>` per secret, space-separated. */
export function signWebhook({ id, timestamp, body, secrets }: WebhookSignInput): string {
  checkId(id);
  checkTimestamp(timestamp);
  if (!Array.isArray(secrets) || secrets.length === 0) throw new Error('at least one webhook secret is needed to sign');
  return secrets
    .map(
      (secret) => `${SIGNATURE_VERSION},${hmac(decodeWebhookSecret(secret), id, timestamp, body).toString('base64')}`,
    )
    .join(' ');
}

/** The three Standard Webhooks headers for one delivery attempt. */
export function webhookHeaders(input: WebhookSignInput): WebhookHeaders {
  return {
    'webhook-id': input.id,
    'webhook-timestamp': String(input.timestamp),
    'webhook-signature': signWebhook(input),
  };
}

/** Request headers as Node (`IncomingHttpHeaders`, any case) or fetch (`Headers`) give them. */
export type HeaderSource = Record<string, string | string[] | undefined> | { get(name: string): string | null };

function header(headers: HeaderSource, name: string): string | undefined {
  if (typeof (headers as { get?: unknown }).get === 'function') {
    return (headers as { get(name: string): string | null }).get(name) ?? undefined;
  }
  const record = headers as Record<string, string | string[] | undefined>;
  let value = record[name];
  if (value === undefined) {
    const key = Object.keys(record).find((k) => k.toLowerCase() === name);
    value = key === undefined ? undefined : record[key];
  }
  if (Array.isArray(value)) {
    if (value.length > 1) throw new WebhookVerificationError(`more than one ${name} header`);
    value = value[0];
  }
  return value;
}

export interface WebhookVerifyInput {
  headers: HeaderSource;
  /** The raw body exactly as received. */
  body: string | Uint8Array;
  /** The receiver's secret(s); several during a rotation window. */
  secret: string | string[];
  /** How far (either way) the timestamp may be from `now`; default 300 s. */
  toleranceSeconds?: number;
  /** The current time in milliseconds since the epoch (as `Date.now()`); defaults to the clock. */
  now?: number;
}

/**
 * Checks a delivery's Standard Webhooks headers against the raw body. Throws `WebhookVerificationError` unless one
 * `v1` signature matches one of the secrets and the timestamp is within the tolerance; returns the id and timestamp.
 */
export function verifyWebhook({
  headers,
  body,
  secret,
  toleranceSeconds = DEFAULT_TOLERANCE_SECONDS,
  now = Date.now(),
}: WebhookVerifyInput): { id: string; timestamp: number } {
  const id = header(headers, 'webhook-id');
  const timestampText = header(headers, 'webhook-timestamp');
  const signatureText = header(headers, 'webhook-signature');
  if (!id) throw new WebhookVerificationError('missing webhook-id header');
  if (!timestampText) throw new WebhookVerificationError('missing webhook-timestamp header');
  if (!signatureText) throw new WebhookVerificationError('missing webhook-signature header');

  if (!/^\d{1,15}$/.test(timestampText.trim()))
    throw new WebhookVerificationError(`invalid webhook-timestamp "${timestampText}": must be integer seconds`);
  const timestamp = Number(timestampText.trim());
  const nowSeconds = Math.floor(now / 1000);
  if (timestamp < nowSeconds - toleranceSeconds) {
    throw new WebhookVerificationError(
      `webhook-timestamp ${timestamp} is too old (${nowSeconds - timestamp} s ago, tolerance ${toleranceSeconds} s)`,
    );
  }
  if (timestamp > nowSeconds + toleranceSeconds) {
    throw new WebhookVerificationError(
      `webhook-timestamp ${timestamp} is too far in the future (${timestamp - nowSeconds} s ahead, tolerance ${toleranceSeconds} s)`,
    );
  }

  const secrets = Array.isArray(secret) ? secret : [secret];
  if (secrets.length === 0) throw new Error('at least one webhook secret is needed to verify');
  const expected = secrets.map((s) => hmac(decodeWebhookSecret(s), id, timestamp, body));

  const offered: Buffer[] = [];
  for (const entry of signatureText.trim().split(/\s+/)) {
    const comma = entry.indexOf(',');
    if (comma < 0 || entry.slice(0, comma) !== SIGNATURE_VERSION) continue; // other schemes (v1a, …) are not ours
    const signature = Buffer.from(entry.slice(comma + 1), 'base64');
    if (signature.length === HMAC_BYTES) offered.push(signature);
  }
  if (offered.length === 0) throw new WebhookVerificationError('webhook-signature has no v1 signature');

  let match = false;
  // Compare every pair, without stopping early, so timing reveals nothing about which (if any) matched.
  for (const candidate of offered) {
    for (const mac of expected) {
      if (timingSafeEqual(candidate, mac)) match = true;
    }
  }
  if (!match)
    throw new WebhookVerificationError(
      'no webhook signature matches (wrong secret, or the body, id or timestamp was altered)',
    );
  return { id, timestamp };
}
