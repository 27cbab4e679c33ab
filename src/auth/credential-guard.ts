/**
 * What this process remembers about credentials it verified, so that an argon2 verification is spent on a secret at most
 * once in a while (API keys and OAuth access tokens are verified with argon2id; see src/api/trpc/context.ts):
 *  - invalid: secrets that failed verification (unknown, wrong, revoked, expired). They never become valid: keys and
 *    tokens are random and stored before anyone sees them; a revoked or expired one stays so. Refused from memory.
 *  - known valid: secrets that verified recently. They skip the per-IP limit on verifications (a client sharing an
 *    address with a flood still gets its key re-verified when the success cache expires); they are still verified.
 * Both are keyed by sha256 of the secret (never the secret), bounded in size (oldest dropped first) and expire.
 *  - the verification gate: secrets not known valid are verified one at a time (by default) with a bounded queue. The
 *    per-IP limit bounds how many verifications a flood gets; the gate bounds how much CPU they take at once, so that a
 *    burst of them (a flood crossing into a new window gets its whole allowance at once) cannot take every core from
 *    the requests of known clients. A full queue is refused at once.
 *  - blocked addresses: client addresses the shared per-IP verification limit refused, until its window ends. The
 *    limiter's windows are fixed, so it would refuse them until then anyway: a flood from one address is answered from
 *    memory instead of costing a limiter round trip per request.
 */
import { ConcurrencyGate } from '../concurrency.js';
import { cacheId } from './notified-cache.js';

class BoundedTtlSet {
  private readonly expiries = new Map<string, number>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries: number,
  ) {}

  has(id: string, nowMs = Date.now()): boolean {
    const expiresAt = this.expiries.get(id);
    if (expiresAt === undefined) return false;
    if (expiresAt > nowMs) return true;
    this.expiries.delete(id);
    return false;
  }

  /** Whether `id` is held, and until when (ms since the epoch). */
  expiry(id: string, nowMs = Date.now()): number | undefined {
    return this.has(id, nowMs) ? this.expiries.get(id) : undefined;
  }

  add(id: string, nowMs = Date.now(), expiresAt = nowMs + this.ttlMs): void {
    this.expiries.delete(id); // re-inserted at the end: eviction drops the least recently added
    this.expiries.set(id, expiresAt);
    while (this.expiries.size > this.maxEntries) {
      const oldest = this.expiries.keys().next();
      if (oldest.done) break;
      this.expiries.delete(oldest.value);
    }
  }

  delete(id: string): void {
    this.expiries.delete(id);
  }

  get size(): number {
    return this.expiries.size;
  }
}

export interface CredentialGuardOptions {
  /** How long a failed secret is refused from memory (default 15 min). */
  invalidTtlMs?: number;
  /** How long a verified secret is exempt from the per-IP verification limit (default 1 h). */
  validTtlMs?: number;
  /** Size bound of each set (default 10 000). */
  maxEntries?: number;
  /** Verifications of secrets not known valid that run at once (default 1). */
  unknownVerificationConcurrency?: number;
  /** How many of them may wait; beyond that they are refused at once (default 256). */
  unknownVerificationQueue?: number;
}

export class CredentialGuard {
  private readonly invalid: BoundedTtlSet;
  private readonly valid: BoundedTtlSet;
  private readonly blockedAddresses: BoundedTtlSet;
  /** Where verifications of secrets not known valid wait their turn. */
  readonly unknownVerifications: ConcurrencyGate;

  constructor(options: CredentialGuardOptions = {}) {
    const max = options.maxEntries ?? 10_000;
    this.invalid = new BoundedTtlSet(options.invalidTtlMs ?? 15 * 60_000, max);
    this.valid = new BoundedTtlSet(options.validTtlMs ?? 60 * 60_000, max);
    this.blockedAddresses = new BoundedTtlSet(0, max);
    this.unknownVerifications = new ConcurrencyGate(
      options.unknownVerificationConcurrency ?? 1,
      options.unknownVerificationQueue ?? 256,
    );
  }

  /** Until when (ms since the epoch) the per-IP verification limit refuses `ip`, as this process last heard it. */
  addressBlockedUntil(ip: string, nowMs = Date.now()): number | undefined {
    return this.blockedAddresses.expiry(ip, nowMs);
  }

  /** The shared limiter refused `ip` until `untilMs` (the end of its window). */
  recordAddressBlocked(ip: string, untilMs: number): void {
    this.blockedAddresses.add(ip, Date.now(), untilMs);
  }

  isKnownInvalid(secret: string): boolean {
    return this.invalid.has(cacheId(secret));
  }

  isKnownValid(secret: string): boolean {
    return this.valid.has(cacheId(secret));
  }

  recordInvalid(secret: string): void {
    const id = cacheId(secret);
    this.valid.delete(id);
    this.invalid.add(id);
  }

  recordValid(secret: string): void {
    this.valid.add(cacheId(secret));
  }

  /** Entries held (both sets), for tests and diagnostics. */
  get size(): number {
    return this.invalid.size + this.valid.size;
  }
}
