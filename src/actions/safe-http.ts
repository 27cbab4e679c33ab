/**
 * Outgoing HTTP(S) to user-supplied URLs, protected against server-side request forgery.
 *
 * The check runs on the RESOLVED addresses, not on the URL text: the host is resolved once (all its addresses), the
 * request is refused if any address is private, loopback, link-local, metadata, reserved… (unless explicitly
 * allow-listed), and the connection is then pinned to a checked address through a custom `lookup`, so a DNS answer
 * that changes between the check and the connect (DNS rebinding) cannot redirect it. TLS still verifies the
 * certificate against, and sends SNI and Host for, the original host name. Redirects are never followed.
 */
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { performance } from 'node:perf_hooks';

/** A request refused by the SSRF rules (scheme, credentials, or a forbidden address). */
export class SsrfError extends Error {
  override name = 'SsrfError';
  constructor(
    message: string,
    readonly host?: string,
    readonly address?: string,
    readonly reason?: string,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Addresses

type Family = 4 | 6;

function parseIPv4(ip: string): bigint | undefined {
  const parts = ip.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    value = (value << 8n) | BigInt(n);
  }
  return value;
}

function parseIPv6(ip: string): bigint | undefined {
  let text = ip;
  // A dotted-quad tail (::ffff:1.2.3.4) becomes two hex groups.
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    const v4 = parseIPv4(text.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    text = `${text.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groupsOf = (s: string) => (s === '' ? [] : s.split(':'));
  const head = groupsOf(halves[0]!);
  const tail = halves.length === 2 ? groupsOf(halves[1]!) : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail];
  let value = 0n;
  for (const group of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined;
    value = (value << 16n) | BigInt(parseInt(group, 16));
  }
  return value;
}

/** Parses an IPv4 or IPv6 address (brackets and an IPv6 zone id allowed) to its family and numeric value. */
export function parseIp(ip: string): { family: Family; value: bigint } | undefined {
  let text = ip.trim();
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  const kind = net.isIP(text);
  if (kind === 4) {
    const value = parseIPv4(text);
    return value === undefined ? undefined : { family: 4, value };
  }
  if (kind === 6) {
    const value = parseIPv6(text);
    return value === undefined ? undefined : { family: 6, value };
  }
  return undefined;
}

/** An IPv4 CIDR block or an IPv6 prefix. */
export interface Cidr {
  family: Family;
  network: bigint;
  prefix: number;
  /** As written, for messages. */
  text: string;
}

/** Parses `a.b.c.d/n`, `x:y::/n`, or a bare address (a /32 or /128); undefined if it is neither. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const ip = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (!ip) return undefined;
  const bits = ip.family === 4 ? 32 : 128;
  let prefix = bits;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > bits) return undefined;
    prefix = Number(p);
  }
  const shift = BigInt(bits - prefix);
  return { family: ip.family, network: (ip.value >> shift) << shift, prefix, text };
}

function inCidr(family: Family, value: bigint, cidr: Cidr): boolean {
  if (family !== cidr.family) return false;
  const shift = BigInt((family === 4 ? 32 : 128) - cidr.prefix);
  return value >> shift === cidr.network >> shift;
}

function rules(list: [string, string][]): { cidr: Cidr; reason: string }[] {
  return list.map(([text, reason]) => ({ cidr: parseCidr(text)!, reason }));
}

// Most specific first: the first match gives the reason.
const IPV4_RULES = rules([
  ['255.255.255.255/32', 'the broadcast address'],
  ['169.254.169.254/32', 'the cloud metadata address (link-local)'],
  ['0.0.0.0/8', 'a "this network" (unspecified) address'],
  ['10.0.0.0/8', 'a private address'],
  ['100.64.0.0/10', 'a carrier-grade NAT (shared) address'],
  ['127.0.0.0/8', 'a loopback address'],
  ['169.254.0.0/16', 'a link-local address'],
  ['172.16.0.0/12', 'a private address'],
  ['192.0.0.0/24', 'an IETF protocol assignment address'],
  ['192.0.2.0/24', 'a documentation (TEST-NET-1) address'],
  ['192.168.0.0/16', 'a private address'],
  ['198.18.0.0/15', 'a benchmarking address'],
  ['198.51.100.0/24', 'a documentation (TEST-NET-2) address'],
  ['203.0.113.0/24', 'a documentation (TEST-NET-3) address'],
  ['224.0.0.0/4', 'a multicast address'],
  ['240.0.0.0/4', 'a reserved address'],
]);

const IPV6_RULES = rules([
  ['::/128', 'the unspecified address'],
  ['::1/128', 'a loopback address'],
  ['fd00:ec2::254/128', 'the AWS metadata (IMDS) address'],
  ['64:ff9b::/96', 'a NAT64 address'],
  ['64:ff9b:1::/48', 'a local-use NAT64 address'],
  ['100::/64', 'a discard-only address'],
  ['2001:db8::/32', 'a documentation address'],
  ['fc00::/7', 'a unique-local (private) address'],
  ['fe80::/10', 'a link-local address'],
  ['fec0::/10', 'a site-local (deprecated private) address'],
  ['ff00::/8', 'a multicast address'],
]);

/** IPv6 ranges that carry an IPv4 address in their low (or, for 6to4, bits 16–47) bits: the IPv4 decides. */
const EMBEDDED_IPV4: { cidr: Cidr; name: string; extract: (v: bigint) => bigint }[] = [
  { cidr: parseCidr('::ffff:0:0/96')!, name: 'IPv4-mapped', extract: (v) => v & 0xffffffffn },
  { cidr: parseCidr('::ffff:0:0:0/96')!, name: 'IPv4-translated', extract: (v) => v & 0xffffffffn },
  { cidr: parseCidr('::/96')!, name: 'IPv4-compatible', extract: (v) => v & 0xffffffffn },
  { cidr: parseCidr('2002::/16')!, name: '6to4', extract: (v) => (v >> 80n) & 0xffffffffn },
];

function formatIPv4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 0xffn)).join('.');
}

function ipv4Reason(value: bigint): string | undefined {
  return IPV4_RULES.find((r) => inCidr(4, value, r.cidr))?.reason;
}

/** The IPv4 address an IPv6 address stands for (mapped, translated, compatible, 6to4), if any. */
function embeddedIPv4(value: bigint): { v4: bigint; name: string } | undefined {
  for (const e of EMBEDDED_IPV4) {
    if (inCidr(6, value, e.cidr)) return { v4: e.extract(value), name: e.name };
  }
  return undefined;
}

/**
 * Why an outgoing request must not go to this address (e.g. "a private address"), or undefined if it may.
 * Anything that is not a valid IP address is refused as well.
 */
export function isForbiddenAddress(ip: string): string | undefined {
  const parsed = parseIp(ip);
  if (!parsed) return 'not a valid IP address';
  if (parsed.family === 4) return ipv4Reason(parsed.value);
  // ::, ::1 lie inside ::/96, and the specific IPv6 rules come first.
  const specific = IPV6_RULES.find((r) => inCidr(6, parsed.value, r.cidr));
  if (specific) return specific.reason;
  const embedded = embeddedIPv4(parsed.value);
  if (embedded) {
    const reason = ipv4Reason(embedded.v4);
    return reason === undefined ? undefined : `an ${embedded.name} form of ${formatIPv4(embedded.v4)}, ${reason}`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Allow list

/** Explicit exceptions (local development, tests): host names allowed whatever they resolve to, and address blocks. */
export interface AllowList {
  /** Lower-case host names without a trailing dot. */
  hosts: Set<string>;
  cidrs: Cidr[];
}

function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

/**
 * Parses a comma-separated allow list such as `localhost,127.0.0.0/8,::1,receiver.internal`: host names, IP
 * addresses and CIDR blocks. Empty or undefined gives an empty list. Throws on an entry that is none of these.
 */
export function parseAllowList(text: string | undefined): AllowList {
  const allow: AllowList = { hosts: new Set(), cidrs: [] };
  for (const raw of (text ?? '').split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const cidr = parseCidr(entry);
    if (cidr) {
      allow.cidrs.push(cidr);
      continue;
    }
    if (entry.includes('/') || entry.includes(':'))
      throw new Error(`invalid allow-list entry "${entry}": not an IP address or CIDR block (ports are not supported)`);
    const host = normalizeHost(entry);
    // A name made of digits and dots only is a mistyped address, not a host name.
    if (/^[\d.]+$/.test(host) || !/^[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*$/.test(host)) {
      throw new Error(`invalid allow-list entry "${entry}": not a host name, IP address or CIDR block`);
    }
    allow.hosts.add(host);
  }
  return allow;
}

/** Whether the allow list lets this host (by name) or this resolved address (by block) through. */
export function isAllowed(allow: AllowList | undefined, host: string, address: string): boolean {
  if (!allow) return false;
  if (allow.hosts.has(normalizeHost(host))) return true;
  const ip = parseIp(address);
  if (!ip) return false;
  if (allow.cidrs.some((c) => inCidr(ip.family, ip.value, c))) return true;
  // ::ffff:127.0.0.1 is 127.0.0.1 for the purpose of an allow list of IPv4 blocks.
  if (ip.family === 6 && inCidr(6, ip.value, EMBEDDED_IPV4[0]!.cidr)) {
    const v4 = ip.value & 0xffffffffn;
    return allow.cidrs.some((c) => inCidr(4, v4, c));
  }
  return false;
}

// ---------------------------------------------------------------------------------------------------------------
// Requests

export type ResolvedAddress = { address: string; family: 4 | 6 };
export type HostLookup = (host: string) => Promise<ResolvedAddress[]>;

export interface SafeRequestOptions {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Covers resolving, connecting, and receiving the whole (bounded) response. */
  timeoutMs: number;
  /** Bytes of the response body kept (default 64 KiB); the rest is discarded and the connection closed. */
  maxResponseBytes?: number;
  allow?: AllowList;
  /** Resolves a host name to all its addresses; defaults to the system resolver. Injectable for tests. */
  lookup?: HostLookup;
}

export interface SafeResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The first `maxResponseBytes` of the body, decoded as UTF-8. */
  body: string;
  truncated: boolean;
  durationMs: number;
  /** The address actually connected to. */
  address: string;
}

export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024;

const systemLookup: HostLookup = async (host) => {
  const answers = await dns.promises.lookup(host, { all: true, verbatim: true });
  return answers.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

/** Connection errors after which no byte of the request was sent, so the next address may be tried. */
const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'EAFNOSUPPORT']);

const ERROR_TEXT: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by the server',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  EPIPE: 'connection closed by the server while sending',
  EADDRNOTAVAIL: 'address not available',
  EAFNOSUPPORT: 'address family not supported',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'temporary DNS failure',
};

function describeError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  if (code && ERROR_TEXT[code]) return `${ERROR_TEXT[code]} (${code})`;
  if (code && /CERT|TLS|SSL/.test(code)) return `TLS error: ${e.message} (${code})`;
  return e instanceof Error ? e.message : String(err);
}

/** Rejects with `onTimeout()` if the signal fires first; the promise itself is left to settle on its own. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal, onTimeout: () => Error): Promise<T> {
  if (signal.aborted) return Promise.reject(onTimeout());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(onTimeout());
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/** Drops an incomplete UTF-8 sequence cut off at the end of a truncated buffer. */
function trimPartialUtf8(buf: Buffer): Buffer {
  let i = buf.length - 1;
  let continuation = 0;
  while (i >= 0 && continuation < 3 && (buf[i]! & 0xc0) === 0x80) {
    i--;
    continuation++;
  }
  if (i < 0) return buf;
  const lead = buf[i]!;
  const need = lead >= 0xf0 ? 3 : lead >= 0xe0 ? 2 : lead >= 0xc0 ? 1 : 0;
  return need > continuation ? buf.subarray(0, i) : buf;
}

interface AttemptResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  truncated: boolean;
}

class AttemptError extends Error {
  constructor(
    message: string,
    readonly connected: boolean,
    readonly code: string | undefined,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

function attempt(
  url: URL,
  host: string,
  target: ResolvedAddress,
  options: SafeRequestOptions,
  maxBytes: number,
  signal: AbortSignal,
  timeoutError: () => Error,
): Promise<AttemptResult> {
  return new Promise<AttemptResult>((resolve, reject) => {
    const headers: Record<string, string> = { ...options.headers };
    const body =
      options.body === undefined
        ? undefined
        : typeof options.body === 'string'
          ? Buffer.from(options.body, 'utf8')
          : options.body;
    if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length')) {
      headers['content-length'] = String(body.length);
    }

    // Pinned resolution: whatever the host name, connect to the address that was checked.
    const lookup: net.LookupFunction = (_hostname, lookupOptions, callback) => {
      if (lookupOptions && typeof lookupOptions === 'object' && lookupOptions.all) {
        callback(null, [{ address: target.address, family: target.family }]);
      } else {
        callback(null, target.address, target.family);
      }
    };

    let settled = false;
    let connected = false;
    let res: http.IncomingMessage | undefined;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      fn();
    };
    const fail = (err: unknown) =>
      finish(() => {
        if (signal.aborted) return reject(timeoutError());
        const code = (err as NodeJS.ErrnoException)?.code;
        reject(
          new AttemptError(describeError(err), connected, typeof code === 'string' ? code : undefined, { cause: err }),
        );
      });
    const onAbort = () => {
      const err = timeoutError();
      req.destroy(err);
      res?.destroy(err);
      fail(err);
    };

    const requestOptions: https.RequestOptions = {
      method: options.method.toUpperCase(),
      protocol: url.protocol,
      hostname: host,
      port: url.port === '' ? undefined : Number(url.port),
      path: `${url.pathname}${url.search}`,
      headers,
      lookup,
      family: target.family,
      // A fresh connection per request: no pooled socket connected under some other check.
      agent: false,
      // SNI and certificate checks against the original name (Node skips SNI for IP literals by itself).
      ...(url.protocol === 'https:' && net.isIP(host) === 0 ? { servername: host } : {}),
    };
    const req = (url.protocol === 'https:' ? https : http).request(requestOptions);
    signal.addEventListener('abort', onAbort, { once: true });

    req.on('socket', (socket) => {
      const secure = url.protocol === 'https:';
      if (secure) socket.once('secureConnect', () => (connected = true));
      else socket.once('connect', () => (connected = true));
    });
    req.on('error', fail);
    req.on('response', (response) => {
      res = response;
      connected = true;
      const chunks: Buffer[] = [];
      let kept = 0;
      const done = (truncated: boolean) =>
        finish(() => {
          const buf = Buffer.concat(chunks, kept);
          resolve({
            status: response.statusCode ?? 0,
            headers: { ...response.headers },
            body: (truncated ? trimPartialUtf8(buf) : buf).toString('utf8'),
            truncated,
          });
        });
      response.on('data', (chunk: Buffer) => {
        if (settled) return;
        const room = maxBytes - kept;
        if (chunk.length > room) {
          if (room > 0) chunks.push(chunk.subarray(0, room));
          kept += Math.max(room, 0);
          done(true);
          // Stop reading: the rest is discarded with the connection (never pooled: agent: false).
          response.destroy();
          req.destroy();
          return;
        }
        chunks.push(chunk);
        kept += chunk.length;
      });
      response.on('end', () => done(false));
      response.on('error', fail);
      response.on('close', () => {
        if (!response.complete) fail(new Error('the connection closed before the response was complete'));
      });
    });

    if (body !== undefined) req.end(body);
    else req.end();
  });
}

/** A URL the SSRF rules let through, with the checked addresses to connect to. */
export interface CheckedDestination {
  url: URL;
  /** Normalised host name (or address literal). */
  host: string;
  addresses: ResolvedAddress[];
  /** `METHOD origin/path`, for messages. */
  label: string;
}

/**
 * The SSRF rules, in one place for the send (safeRequest) and for saving an action: refuses (with `SsrfError`)
 * non-http(s) URLs, URLs with credentials, and hosts that resolve to any forbidden address not on the allow list.
 * A host that cannot be resolved is a plain Error (a network condition, not a refusal).
 */
export async function checkDestination(
  rawUrl: string,
  options: {
    allow?: AllowList;
    lookup?: HostLookup;
    method?: string;
    signal?: AbortSignal;
    timeoutError?: (label: string) => Error;
  } = {},
): Promise<CheckedDestination> {
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new SsrfError(`refused: "${rawUrl}" is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new SsrfError(
      `refused ${url.protocol}// URL: only http: and https: are allowed`,
      url.hostname,
      undefined,
      'scheme',
    );
  }
  if (url.username !== '' || url.password !== '') {
    throw new SsrfError(
      `refused URL with credentials for ${url.host}: put secrets in headers, not in the URL`,
      url.hostname,
      undefined,
      'credentials',
    );
  }
  const host = normalizeHost(url.hostname);
  if (host === '') throw new SsrfError(`refused "${rawUrl}": no host`);
  const label = `${options.method ?? 'GET'} ${url.origin}${url.pathname}`;

  // Resolve all addresses; an IP literal is its own single address.
  let addresses: ResolvedAddress[];
  const literal = parseIp(host);
  if (literal) {
    addresses = [{ address: host, family: literal.family }];
  } else {
    const signal = options.signal ?? new AbortController().signal;
    const timeoutError = () =>
      (options.timeoutError ?? ((l: string) => new Error(`${l}: could not resolve ${host} in time`)))(label);
    try {
      addresses = await raceAbort((options.lookup ?? systemLookup)(host), signal, timeoutError);
    } catch (err) {
      if (signal.aborted) throw timeoutError();
      throw new Error(`${label}: could not resolve ${host}: ${describeError(err)}`, { cause: err });
    }
    if (addresses.length === 0) throw new Error(`${label}: ${host} resolves to no address`);
  }

  for (const { address } of addresses) {
    const reason = isForbiddenAddress(address);
    if (reason !== undefined && !isAllowed(options.allow, host, address)) {
      const what = literal ? `${address} is ${reason}` : `${host} resolves to ${address}, ${reason}`;
      throw new SsrfError(`refused ${url.origin}: ${what} (not on the allow list)`, host, address, reason);
    }
  }
  return { url, host, addresses, label };
}

/**
 * Sends one HTTP(S) request to a user-supplied URL, refusing (with `SsrfError`) non-http(s) URLs, URLs with
 * credentials and hosts that resolve to any forbidden address not on the allow list. Connects to a checked address
 * only, follows no redirect (3xx is returned as is), keeps at most `maxResponseBytes` of the body, and fails with a
 * plain Error naming the cause on network errors or when nothing complete arrives within `timeoutMs`.
 */
export async function safeRequest(options: SafeRequestOptions): Promise<SafeResponse> {
  const started = performance.now();
  const { timeoutMs } = options;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
    throw new Error(`timeoutMs must be a positive number, got ${String(timeoutMs)}`);
  const maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0)
    throw new Error(`maxResponseBytes must be a non-negative integer, got ${String(maxBytes)}`);
  const method = options.method.toUpperCase();
  if (!/^[A-Z]+$/.test(method)) throw new Error(`invalid HTTP method "${options.method}"`);

  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const noResponse = (label: string) => new Error(`${label}: no response within ${timeoutMs} ms`);
  try {
    const { url, host, addresses, label } = await checkDestination(options.url, {
      allow: options.allow,
      lookup: options.lookup,
      method,
      signal: controller.signal,
      timeoutError: noResponse,
    });
    const timeoutError = () => noResponse(label);

    // Try the checked addresses in order; move on only when a connection could not be made (nothing was sent).
    let lastError: unknown;
    for (const [i, target] of addresses.entries()) {
      try {
        const result = await attempt(url, host, target, options, maxBytes, controller.signal, timeoutError);
        return { ...result, durationMs: Math.round(performance.now() - started), address: target.address };
      } catch (err) {
        lastError = err;
        const retryable =
          err instanceof AttemptError && !err.connected && err.code !== undefined && CONNECT_ERRORS.has(err.code);
        if (!retryable || i === addresses.length - 1 || controller.signal.aborted) break;
      }
    }
    if (lastError instanceof AttemptError) {
      throw new Error(`${label}: ${lastError.message}`, { cause: lastError.cause });
    }
    throw lastError;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The delay a `Retry-After` header asks for, in milliseconds: delay-seconds (`120`) or an HTTP date (past → 0).
 * Undefined when the header is absent or unparseable.
 */
export function retryAfterMs(
  headers: Record<string, string | string[] | undefined>,
  now: number = Date.now(),
): number | undefined {
  let value = headers['retry-after'];
  if (value === undefined) {
    const key = Object.keys(headers).find((k) => k.toLowerCase() === 'retry-after');
    value = key === undefined ? undefined : headers[key];
  }
  if (Array.isArray(value)) value = value[0];
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) {
    const seconds = Number(text);
    return Number.isSafeInteger(seconds * 1000) ? seconds * 1000 : undefined;
  }
  // An HTTP date always names a weekday or month; refuse bare numbers with signs, decimals, etc.
  if (!/[a-z]/i.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}
