import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import { describe, expect, it } from 'vitest';
import { toTRPCError } from '../../src/api/trpc/errors.js';
import { BillingError, type BillingErrorCode } from '../../src/billing/errors.js';

/** Every BillingError code answers a 4xx the caller can act on (or 503 for a server without Stripe), never a 500. */
describe('BillingError → HTTP status', () => {
  const expected: Record<BillingErrorCode, number> = {
    invalid_amount: 400,
    invalid_input: 400,
    unknown_pack: 400,
    unknown_plan: 400,
    invalid_signature: 400,
    insufficient_credits: 402,
    account_owes: 402,
    hold_not_found: 404,
    idempotency_conflict: 409,
    duplicate_reference: 409,
    hold_not_active: 409,
    billing_not_configured: 503,
  };

  it.each(Object.entries(expected))('%s answers %i with its message', (code, status) => {
    const mapped = toTRPCError(new BillingError(code as BillingErrorCode, `because ${code}`));
    expect(getHTTPStatusCodeFromError(mapped)).toBe(status);
    expect(mapped.message).toBe(`because ${code}`);
  });
});
