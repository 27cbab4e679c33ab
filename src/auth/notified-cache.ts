/**
 * A per-process TTL cache of verified credentials, keyed by sha256 of the secret (never the secret itself) and indexed
 * by the credential's lookup prefix. With listenForRevocations, a dedicated connection LISTENs on a channel whose
 * payload is a prefix, and drops that prefix's entries as soon as any process revokes or changes the credential; while
 * that connection is down, the cache is emptied and bypassed (notifications may be missed), and it is re-established
 * with backoff until close().
 *
 * Concurrent misses for the same secret are coalesced (load): while one verification is in flight, other callers await
 * it instead of starting another. Failures are never cached, and a verification that overlapped an invalidation is
 * neither cached nor joined by callers arriving after that invalidation.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';

export interface NotifiedCacheOptions<T> {
  /** NOTIFY channel whose payload is the prefix to drop. Must be a plain SQL identifier. */
  channel: string;
  /** application_name of the LISTEN connection. */
  applicationName: string;
  /** The lookup prefix of a cached value (the notification payload that invalidates it). */
  prefixOf(value: T): string;
  /** When the credential itself expires, if ever: entries never outlive it. */
  expiresAtOf?(value: T): Date | null;
  /** How long a successful verification is reused; capped at maxTtlMs (default: maxTtlMs). */
  ttlMs?: number;
  /** Default 60 s. */
  maxTtlMs?: number;
  /** Default 10 000. */
  maxEntries?: number;
  /** Reconnect backoff bounds for the LISTEN connection (default 250 ms .. 10 s). */
  reconnectDelayMs?: { min: number; max: number };
  /** Told about listener connection problems. */
  onListenerError?: (err: unknown) => void;
  /** Used in error messages. */
  name?: string;
}

interface CacheEntry<T> {
  result: T;
  prefix: string;
  expiresAtMs: number;
}

interface InFlight<T> {
  promise: Promise<T>;
  snapshot: number;
}

const DEFAULT_MAX_TTL_MS = 60_000;

export function cacheId(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export class NotifiedCache<T> {
  private readonly entries = new Map<string, CacheEntry<T>>();
  private readonly byPrefix = new Map<string, Set<string>>();
  private readonly inFlight = new Map<string, InFlight<T>>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  /** Bumped by every invalidation: a verification that overlapped one is not cached (it may have read stale state). */
  private generation = 0;
  private listenUrl: string | undefined;
  private client: pg.Client | undefined;
  private connected = false;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectDelay: number;

  constructor(private readonly cacheOptions: NotifiedCacheOptions<T>) {
    const maxTtl = cacheOptions.maxTtlMs ?? DEFAULT_MAX_TTL_MS;
    this.ttlMs = Math.min(Math.max(cacheOptions.ttlMs ?? maxTtl, 0), maxTtl);
    this.maxEntries = cacheOptions.maxEntries ?? 10_000;
    this.reconnectDelay = cacheOptions.reconnectDelayMs?.min ?? 250;
  }

  /** False while a requested LISTEN connection is down: the cache is then bypassed. */
  get usable(): boolean {
    return this.listenUrl === undefined || this.connected;
  }

  /** True while the LISTEN connection is up. */
  get listening(): boolean {
    return this.connected;
  }

  get size(): number {
    return this.entries.size;
  }

  /** A cached verification, if still fresh. */
  get(secret: string): T | undefined {
    if (!this.usable) return undefined;
    const id = cacheId(secret);
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    if (entry.expiresAtMs <= Date.now()) {
      this.remove(id, entry.prefix);
      return undefined;
    }
    return entry.result;
  }

  /** Token for set(): take it before verifying against the database. */
  snapshot(): number {
    return this.generation;
  }

  /** Caches a verification made since `snapshot`, unless an invalidation happened meanwhile. */
  set(secret: string, result: T, snapshot: number): void {
    if (!this.usable || snapshot !== this.generation || this.ttlMs === 0) return;
    const now = Date.now();
    const expiresAt = this.cacheOptions.expiresAtOf?.(result);
    const expiresAtMs = Math.min(now + this.ttlMs, expiresAt ? expiresAt.getTime() : Infinity);
    if (expiresAtMs <= now) return;
    const id = cacheId(secret);
    const prefix = this.cacheOptions.prefixOf(result);
    const previous = this.entries.get(id);
    if (previous) this.remove(id, previous.prefix); // re-insert at the end (eviction order)
    this.entries.set(id, { result, prefix, expiresAtMs });
    let ids = this.byPrefix.get(prefix);
    if (!ids) this.byPrefix.set(prefix, (ids = new Set()));
    ids.add(id);
    while (this.entries.size > this.maxEntries) {
      const [oldest, entry] = this.entries.entries().next().value as [string, CacheEntry<T>];
      this.remove(oldest, entry.prefix);
    }
  }

  /**
   * A cached verification, or the result of `verify` (cached on success). While a verification of the same secret is
   * in flight and no invalidation happened since it started, callers share it instead of starting another one.
   */
  async load(secret: string, verify: () => Promise<T>): Promise<T> {
    const hit = this.get(secret);
    if (hit !== undefined) return hit;
    const id = cacheId(secret);
    const pending = this.inFlight.get(id);
    if (pending && pending.snapshot === this.generation) return pending.promise;
    const snapshot = this.generation;
    const flight: { promise?: Promise<T> } = {};
    const promise = (async () => {
      try {
        const result = await Promise.resolve().then(verify); // settles after the in-flight entry below is in place
        this.set(secret, result, snapshot);
        return result;
      } finally {
        if (flight.promise && this.inFlight.get(id)?.promise === flight.promise) this.inFlight.delete(id);
      }
    })();
    flight.promise = promise;
    this.inFlight.set(id, { promise, snapshot });
    return promise;
  }

  /** Drops every entry of a prefix. */
  invalidatePrefix(prefix: string): void {
    this.generation++;
    for (const id of this.byPrefix.get(prefix) ?? []) this.entries.delete(id);
    this.byPrefix.delete(prefix);
  }

  clear(): void {
    this.generation++;
    this.entries.clear();
    this.byPrefix.clear();
  }

  /**
   * Starts listening on the channel on a dedicated connection; resolves once LISTEN is in force (rejects if the first
   * connection fails). Later drops are retried with backoff until close().
   */
  async listenForRevocations(databaseUrl: string): Promise<void> {
    if (this.listenUrl !== undefined)
      throw new Error(`${this.cacheOptions.name ?? 'NotifiedCache'} is already listening`);
    this.closed = false;
    this.listenUrl = databaseUrl;
    try {
      await this.connect();
    } catch (err) {
      this.listenUrl = undefined;
      throw err;
    }
  }

  /** Stops listening (the cache keeps working on its TTL alone). */
  async close(): Promise<void> {
    this.closed = true;
    this.listenUrl = undefined;
    this.connected = false;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const client = this.client;
    this.client = undefined;
    this.clear();
    await client?.end().catch(() => undefined);
  }

  private remove(id: string, prefix: string): void {
    this.entries.delete(id);
    const ids = this.byPrefix.get(prefix);
    ids?.delete(id);
    if (ids?.size === 0) this.byPrefix.delete(prefix);
  }

  private async connect(): Promise<void> {
    const { channel } = this.cacheOptions;
    const client = new pg.Client({
      connectionString: this.listenUrl,
      application_name: this.cacheOptions.applicationName,
      keepAlive: true,
    });
    let dropped = false;
    const onDrop = (err?: unknown) => {
      if (dropped) return;
      dropped = true;
      if (err) this.cacheOptions.onListenerError?.(err);
      if (this.client !== client) return; // an old or abandoned connection
      this.client = undefined;
      this.connected = false;
      this.clear(); // notifications may be missed until we are back
      client.end().catch(() => undefined);
      this.scheduleReconnect();
    };
    client.on('error', onDrop);
    client.on('end', () => onDrop());
    client.on('notification', (msg) => {
      if (msg.channel === channel && msg.payload) this.invalidatePrefix(msg.payload);
    });
    this.client = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${channel}`);
    } catch (err) {
      dropped = true;
      if (this.client === client) this.client = undefined;
      await client.end().catch(() => undefined);
      throw err;
    }
    if (this.closed || this.client !== client) {
      await client.end().catch(() => undefined);
      return;
    }
    this.clear(); // anything cached before LISTEN took effect may be stale
    this.connected = true;
    this.reconnectDelay = this.cacheOptions.reconnectDelayMs?.min ?? 250;
  }

  private scheduleReconnect(): void {
    if (this.closed || this.listenUrl === undefined || this.reconnectTimer) return;
    const delay = this.reconnectDelay;
    this.reconnectDelay = Math.min(delay * 2, this.cacheOptions.reconnectDelayMs?.max ?? 10_000);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.closed || this.listenUrl === undefined) return;
      this.connect().catch((err: unknown) => {
        this.cacheOptions.onListenerError?.(err);
        this.scheduleReconnect();
      });
    }, delay);
    this.reconnectTimer.unref();
  }
}
