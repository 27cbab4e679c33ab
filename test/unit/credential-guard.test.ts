import { describe, expect, it } from 'vitest';
import { CredentialGuard } from '../../src/auth/credential-guard.js';

describe('CredentialGuard', () => {
  it('remembers failed and verified secrets, a failure overriding an earlier success', () => {
    const guard = new CredentialGuard();
    expect(guard.isKnownInvalid('sk_a')).toBe(false);
    guard.recordInvalid('sk_a');
    guard.recordValid('sk_b');
    expect(guard.isKnownInvalid('sk_a')).toBe(true);
    expect(guard.isKnownValid('sk_a')).toBe(false);
    expect(guard.isKnownValid('sk_b')).toBe(true);
    guard.recordInvalid('sk_b');
    expect(guard.isKnownValid('sk_b')).toBe(false);
    expect(guard.isKnownInvalid('sk_b')).toBe(true);
  });

  it('stays within its size bound, forgetting the oldest first', () => {
    const guard = new CredentialGuard({ maxEntries: 3 });
    for (let i = 0; i < 10; i++) guard.recordInvalid(`sk_${i}`);
    expect(guard.size).toBe(3);
    expect([7, 8, 9].every((i) => guard.isKnownInvalid(`sk_${i}`))).toBe(true);
    expect(guard.isKnownInvalid('sk_0')).toBe(false);
  });

  it('forgets entries when they expire', () => {
    const guard = new CredentialGuard({ invalidTtlMs: 0, validTtlMs: 0 });
    guard.recordInvalid('sk_a');
    guard.recordValid('sk_b');
    expect(guard.isKnownInvalid('sk_a')).toBe(false);
    expect(guard.isKnownValid('sk_b')).toBe(false);
  });
});
