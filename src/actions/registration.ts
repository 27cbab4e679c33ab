/**
 * ERC-8004 agent registration files (at the agent's tokenURI / agentURI) and other off-chain files the registries
 * point at (feedbackURI + feedbackHash): loading, light validation, service lookup, hash check and a small cache.
 *
 * URI schemes: https:// and http:// (through the caller's fetchText, which is where SSRF protection belongs),
 * ipfs://CID/path (through an HTTP gateway), data:[<mediatype>][;base64],<data> (decoded locally). Anything else is
 * rejected with a clear error.
 */
import { keccak256 } from 'viem';
import { z } from 'zod';
import { SsrfError } from './safe-http.js';

export const REGISTRATION_TYPE = 'https://eips.ethereum.org/EIPS/eip-8004#registration-v1';
export const DEFAULT_MAX_BYTES = 1_048_576;

export interface RegistrationService {
  name: string;
  endpoint: string;
  version?: string;
  [key: string]: unknown;
}

export interface RegistrationFile {
  type?: string;
  name?: string;
  description?: string;
  image?: string;
  /** Current files. */
  services?: RegistrationService[];
  /** Older files call the same list `endpoints`. */
  endpoints?: RegistrationService[];
  [key: string]: unknown;
}

export interface FetchFileOptions {
  /** An HTTP gateway prefix for ipfs:// URIs, e.g. https://ipfs.io/ipfs/ (a missing trailing slash is added). */
  ipfsGateway: string;
  /** Fetches an http(s) URL; should be SSRF-safe and bounded in size and time. */
  fetchText: (url: string) => Promise<{ status: number; body: string }>;
  /** Largest accepted file, in bytes (UTF-8 for fetched text); default 1 MiB. */
  maxBytes?: number;
}

/** Why a file could not be loaded. `permanent` is false for outages (network, 5xx, 408, 429) that a retry may fix. */
export class RegistrationFileError extends Error {
  readonly permanent: boolean;
  readonly status: number | undefined;
  constructor(message: string, options: { permanent: boolean; status?: number; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RegistrationFileError';
    this.permanent = options.permanent;
    this.status = options.status;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Fetching

type Resolved = { kind: 'remote'; url: string } | { kind: 'inline'; mediaType: string; bytes: Uint8Array };

/** Maps a URI to what has to be fetched (http(s)/ipfs → URL) or to its bytes (data:). Throws for other schemes. */
export function resolveFileUri(uri: string, ipfsGateway: string): Resolved {
  const trimmed = uri.trim();
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(trimmed)?.[1]?.toLowerCase();
  if (scheme === 'https' || scheme === 'http') {
    try {
      return { kind: 'remote', url: new URL(trimmed).toString() };
    } catch {
      throw new RegistrationFileError(`invalid URL: ${short(trimmed)}`, { permanent: true });
    }
  }
  if (scheme === 'ipfs') return { kind: 'remote', url: ipfsToGateway(trimmed, ipfsGateway) };
  if (scheme === 'data') return decodeDataUri(trimmed);
  if (trimmed === '') throw new RegistrationFileError('empty URI', { permanent: true });
  throw new RegistrationFileError(
    `unsupported URI scheme ${scheme ? `"${scheme}:"` : '(none)'} — expected https://, http://, ipfs:// or data:`,
    { permanent: true },
  );
}

/**
 * ipfs://CID/path → <gateway>CID/path, with the path normalised (`.` and `..` segments resolved, also percent-encoded
 * ones, backslashes read as slashes as URL parsers do). A path that climbs out of the CID, or hides a slash in an
 * encoded segment, is refused: the gateway would serve another CID or its own pages. Also accepts the legacy
 * ipfs://ipfs/CID form.
 */
export function ipfsToGateway(uri: string, ipfsGateway: string): string {
  let rest = uri.trim().replace(/^ipfs:\/\//i, '');
  if (/^ipfs\//i.test(rest)) rest = rest.slice(5);
  const [, cid = '', path = '', suffix = ''] = /^([^/\\?#]*)([^?#]*)(.*)$/s.exec(rest) ?? [];
  if (!/^[A-Za-z0-9]+$/.test(cid))
    throw new RegistrationFileError(`invalid ipfs URI: ${short(uri)}`, { permanent: true });
  const escapes = () =>
    new RegistrationFileError(`invalid ipfs URI: its path leaves the CID: ${short(uri)}`, { permanent: true });
  const segments: string[] = [];
  const parts = path.split(/[/\\]/).slice(1);
  parts.forEach((segment, i) => {
    if (/%(2f|5c)/i.test(segment)) throw escapes();
    const dots = segment.replace(/%2e/gi, '.');
    if (dots === '.' || dots === '..') {
      if (dots === '..' && segments.pop() === undefined) throw escapes();
      // A trailing dot segment leaves a directory: keep its slash.
      if (i === parts.length - 1) segments.push('');
      return;
    }
    segments.push(segment);
  });
  const gateway = ipfsGateway.endsWith('/') ? ipfsGateway : `${ipfsGateway}/`;
  return `${gateway}${cid}${path === '' ? '' : `/${segments.join('/')}`}${suffix}`;
}

/** data:[<mediatype>][;base64],<data> per RFC 2397. */
function decodeDataUri(uri: string): Resolved {
  const comma = uri.indexOf(',');
  if (comma < 0) throw new RegistrationFileError('malformed data: URI (no comma)', { permanent: true });
  const meta = uri
    .slice(5, comma)
    .split(';')
    .map((p) => p.trim());
  const isBase64 = meta.length > 1 && meta[meta.length - 1]?.toLowerCase() === 'base64';
  const mediaType = (meta[0] || 'text/plain').toLowerCase();
  const payload = uri.slice(comma + 1);
  if (isBase64) {
    const compact = decodeURIComponentSafe(payload).replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(compact))
      throw new RegistrationFileError('malformed data: URI (invalid base64)', { permanent: true });
    return { kind: 'inline', mediaType, bytes: new Uint8Array(Buffer.from(compact, 'base64')) };
  }
  return { kind: 'inline', mediaType, bytes: percentDecodeToBytes(payload) };
}

function decodeURIComponentSafe(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    throw new RegistrationFileError('malformed data: URI (bad percent-encoding)', { permanent: true });
  }
}

/** Percent-decoding into raw bytes (so a hash over a data: URI covers exactly the bytes it encodes). */
function percentDecodeToBytes(s: string): Uint8Array {
  const out: number[] = [];
  const encoder = new TextEncoder();
  for (let i = 0; i < s.length;) {
    if (s[i] === '%') {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex))
        throw new RegistrationFileError('malformed data: URI (bad percent-encoding)', { permanent: true });
      out.push(parseInt(hex, 16));
      i += 3;
    } else {
      const cp = s.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      out.push(...encoder.encode(ch));
      i += ch.length;
    }
  }
  return new Uint8Array(out);
}

/**
 * The file's bytes. Fetched files arrive as text (fetchText), so their bytes are its UTF-8 encoding — exact for
 * JSON, which is UTF-8 by definition.
 */
export async function fetchFileBytes(
  uri: string,
  options: FetchFileOptions,
): Promise<{ bytes: Uint8Array; mediaType?: string }> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const resolved = resolveFileUri(uri, options.ipfsGateway);
  if (resolved.kind === 'inline') {
    if (resolved.bytes.length > maxBytes)
      throw new RegistrationFileError(`file too large (${resolved.bytes.length} bytes > ${maxBytes})`, {
        permanent: true,
      });
    return { bytes: resolved.bytes, mediaType: resolved.mediaType };
  }
  let response: { status: number; body: string };
  try {
    response = await options.fetchText(resolved.url);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // A refusal by the SSRF guard stays a refusal; a network error may pass.
    throw new RegistrationFileError(`fetching ${short(resolved.url)} failed: ${message}`, {
      permanent: error instanceof SsrfError,
      cause: error,
    });
  }
  if (response.status < 200 || response.status > 299) {
    const transient = response.status >= 500 || response.status === 408 || response.status === 429;
    throw new RegistrationFileError(`HTTP ${response.status} fetching ${short(resolved.url)}`, {
      permanent: !transient,
      status: response.status,
    });
  }
  const bytes = new TextEncoder().encode(response.body);
  if (bytes.length > maxBytes)
    throw new RegistrationFileError(`file too large (${bytes.length} bytes > ${maxBytes})`, { permanent: true });
  return { bytes };
}

// ---------------------------------------------------------------------------------------------------------------
// Registration file

/** Keeps well-formed entries and drops the rest: one odd entry must not hide the agent's MCP service. */
const serviceList = z.array(z.unknown()).transform((entries) =>
  entries.flatMap((entry): RegistrationService[] => {
    const parsed = serviceSchema.safeParse(entry);
    return parsed.success ? [parsed.data as RegistrationService] : [];
  }),
);
const serviceSchema = z
  .object({
    name: z.string().trim().min(1),
    endpoint: z.string().trim().min(1),
    version: z.union([z.string(), z.number()]).transform(String).optional(),
  })
  .loose();

const registrationSchema = z
  .object({
    type: z.string().optional(),
    name: z.string().optional(),
    description: z.string().optional().catch(undefined),
    image: z.string().optional().catch(undefined),
    services: serviceList.optional(),
    endpoints: serviceList.optional(),
  })
  .loose();

const JSON_MEDIA_TYPE = /^(application\/json|text\/json|application\/[a-z0-9.+-]+\+json|text\/plain)$/;

/** Parses and loosely validates a registration file's text. */
export function parseRegistrationFile(text: string): RegistrationFile {
  let json: unknown;
  try {
    json = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (error) {
    throw new RegistrationFileError(
      `registration file is not valid JSON: ${error instanceof Error ? error.message : String(error)}`,
      { permanent: true },
    );
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json))
    throw new RegistrationFileError('registration file is not a JSON object', { permanent: true });
  const parsed = registrationSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new RegistrationFileError(`invalid registration file: ${issues}`, { permanent: true });
  }
  return parsed.data as RegistrationFile;
}

export async function loadRegistrationFile(uri: string, options: FetchFileOptions): Promise<RegistrationFile> {
  const { bytes, mediaType } = await fetchFileBytes(uri, options);
  if (mediaType !== undefined && !JSON_MEDIA_TYPE.test(mediaType)) {
    throw new RegistrationFileError(`unsupported data: media type ${mediaType} (expected application/json)`, {
      permanent: true,
    });
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new RegistrationFileError('registration file is not valid UTF-8', { permanent: true });
  }
  return parseRegistrationFile(text);
}

/** The endpoint of the service called `name` (case-insensitive), from `services` or, in older files, `endpoints`. */
export function findServiceEndpoint(file: RegistrationFile, name = 'MCP'): string | undefined {
  const wanted = name.trim().toLowerCase();
  for (const list of [file.services, file.endpoints]) {
    if (!Array.isArray(list)) continue;
    const hit = list.find(
      (s) =>
        typeof s?.name === 'string' &&
        s.name.trim().toLowerCase() === wanted &&
        typeof s.endpoint === 'string' &&
        s.endpoint.trim() !== '',
    );
    if (hit) return hit.endpoint.trim();
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Hash check

/**
 * Checks a file against the hash committed on chain (feedbackHash, responseHash, …): keccak256 over the file's
 * bytes, compared case-insensitively. keccak256 only — that is what ERC-8004 specifies; a producer that hashed with
 * sha256 (or hashed something else) simply fails the check. A zero hash (`0x00…00`, "no hash given") is a mismatch
 * here; whether to skip the check then is the caller's decision.
 */
export async function verifyFileHash(
  uri: string,
  expectedHash: string,
  options: FetchFileOptions,
): Promise<{ ok: true } | { ok: false; actual: string; expected: string }> {
  const { bytes } = await fetchFileBytes(uri, options);
  const actual = keccak256(bytes);
  const expected = expectedHash.trim();
  const normalized = (
    expected.startsWith('0x') || expected.startsWith('0X') ? expected : `0x${expected}`
  ).toLowerCase();
  return normalized === actual.toLowerCase() ? { ok: true } : { ok: false, actual, expected };
}

// ---------------------------------------------------------------------------------------------------------------
// Cache

export interface RegistrationCacheEntry {
  uri: string;
  file: RegistrationFile;
  fetchedAt: number;
}

/**
 * Registration files by agent (`${chainId}:${agentId}`), valid only for the URI they were loaded from: a changed
 * tokenURI misses. LRU-bounded, with a TTL so a file edited in place behind the same URL is re-read eventually.
 */
export class RegistrationCache {
  private readonly entries = new Map<string, RegistrationCacheEntry>();
  private readonly inflight = new Map<string, { uri: string; promise: Promise<RegistrationFile> }>();
  private readonly maxEntries: number;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(options: { maxEntries?: number; ttlMs?: number; now?: () => number } = {}) {
    this.maxEntries = Math.max(1, options.maxEntries ?? 1_000);
    this.ttlMs = options.ttlMs ?? 10 * 60_000;
    this.now = options.now ?? Date.now;
  }

  static key(chainId: number | bigint | string, agentId: number | bigint | string): string {
    return `${chainId}:${agentId}`;
  }

  /** The cached file when it was loaded from `currentUri` and is younger than the TTL; otherwise undefined (and the stale entry is dropped). */
  get(
    chainId: number | bigint | string,
    agentId: number | bigint | string,
    currentUri: string,
  ): RegistrationFile | undefined {
    const key = RegistrationCache.key(chainId, agentId);
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.uri !== currentUri || this.now() - entry.fetchedAt >= this.ttlMs) {
      this.entries.delete(key);
      return undefined;
    }
    this.entries.delete(key); // most recently used goes last
    this.entries.set(key, entry);
    return entry.file;
  }

  set(chainId: number | bigint | string, agentId: number | bigint | string, uri: string, file: RegistrationFile): void {
    const key = RegistrationCache.key(chainId, agentId);
    this.entries.delete(key);
    this.entries.set(key, { uri, file, fetchedAt: this.now() });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
  }

  /** Drops the agent's entry (call it on URIUpdated / MetadataSet / Transfer for the agent). */
  invalidate(chainId: number | bigint | string, agentId: number | bigint | string): void {
    const key = RegistrationCache.key(chainId, agentId);
    this.entries.delete(key);
    this.inflight.delete(key);
  }

  /** The cached file, or loads it once (concurrent callers for the same agent and URI share one load) and caches it. */
  async getOrLoad(
    chainId: number | bigint | string,
    agentId: number | bigint | string,
    uri: string,
    load: (uri: string) => Promise<RegistrationFile>,
  ): Promise<RegistrationFile> {
    const cached = this.get(chainId, agentId, uri);
    if (cached) return cached;
    const key = RegistrationCache.key(chainId, agentId);
    const pending = this.inflight.get(key);
    if (pending && pending.uri === uri) return pending.promise;
    const promise = load(uri).then(
      (file) => {
        if (this.inflight.get(key)?.promise === promise) {
          this.inflight.delete(key);
          this.set(chainId, agentId, uri, file);
        }
        return file;
      },
      (error: unknown) => {
        if (this.inflight.get(key)?.promise === promise) this.inflight.delete(key);
        throw error;
      },
    );
    this.inflight.set(key, { uri, promise });
    return promise;
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
    this.inflight.clear();
  }
}

function short(s: string): string {
  return s.length > 120 ? `${s.slice(0, 120)}…` : s;
}
