/**
 * Password (and API-key) hashing with argon2id, OWASP parameters: 19 MiB, 2 passes, 1 lane.
 */
import argon2 from 'argon2';
import { counter } from '../counters.js';

/** Every argon2 verification this process makes (logins, API keys, OAuth secrets and tokens, dummy misses). */
export const argon2Verifications = counter(
  'erc8004_argon2_verifications_total',
  'argon2id verifications made by this process (passwords, API keys, OAuth).',
);

export const ARGON2_OPTIONS = Object.freeze({
  type: argon2.argon2id,
  memoryCost: 19_456, // KiB
  timeCost: 2,
  parallelism: 1,
});

/**
 * A hash (same parameters) of a random secret nobody knows: verified against when the account or key does not exist,
 * so that a miss costs as much time as a hit.
 */
export const DUMMY_HASH =
  '$argon2id$v=19$m=19456,t=2,p=1$PsyOKOM5Jc8oegA5Ua4Z/w$zcvskzuOmiDHyiplz8DF+2xkBw/DfJZni1+DAvXS6Ro';

export function hashPassword(plain: string): Promise<string> {
  return argon2.hash(plain, ARGON2_OPTIONS);
}

/** True when `plain` matches `hash`; false for a wrong password or a malformed hash (never throws for those). */
export async function verifyPassword(hash: string, plain: string): Promise<boolean> {
  argon2Verifications.inc();
  try {
    return await argon2.verify(hash, plain);
  } catch {
    return false;
  }
}

/** Spends the time of one verification and returns false (the constant-time miss path). */
export async function verifyDummy(plain: string): Promise<false> {
  await verifyPassword(DUMMY_HASH, plain);
  return false;
}

/** True when `hash` was made with weaker (or other) parameters than ARGON2_OPTIONS: rehash at the next login. */
export function passwordNeedsRehash(hash: string): boolean {
  try {
    return argon2.needsRehash(hash, ARGON2_OPTIONS);
  } catch {
    return true;
  }
}
