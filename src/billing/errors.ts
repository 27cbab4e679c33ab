/**
 * The one error type of the billing domain. `code` says what went wrong (the API maps it to a status: invalid input
 * and refusals are 4xx, never 500); `message` is safe to show to the caller and names the figures involved.
 */
export type BillingErrorCode =
  /** An amount that is not a positive decimal string with at most 8 decimals within DECIMAL(20, 8). */
  | 'invalid_amount'
  /** Any other malformed input (key, cursor, period, hold id). */
  | 'invalid_input'
  /** Not enough available credits (balance minus holds) for the charge or reservation. */
  | 'insufficient_credits'
  /** The account owes credits after a reversed payment: paid calls are refused until a credit settles it. */
  | 'account_owes'
  /** The idempotency key was used before for a different operation or amount. */
  | 'idempotency_conflict'
  /** The payment reference is already booked under another idempotency key. */
  | 'duplicate_reference'
  | 'hold_not_found'
  /** The hold was already released, expired or captured, so it cannot be captured or released now. */
  | 'hold_not_active'
  /** Stripe is not configured (STRIPE_SECRET_KEY unset): no checkout, portal or webhook. */
  | 'billing_not_configured'
  /** A credit pack or plan that the configuration does not offer. */
  | 'unknown_pack'
  | 'unknown_plan'
  /** A webhook whose signature does not verify (wrong secret, altered body, stale timestamp). */
  | 'invalid_signature';

export class BillingError extends Error {
  readonly code: BillingErrorCode;

  constructor(code: BillingErrorCode, message: string) {
    super(message);
    this.name = 'BillingError';
    this.code = code;
  }
}

export function isBillingError(err: unknown, code?: BillingErrorCode): err is BillingError {
  return err instanceof BillingError && (code === undefined || err.code === code);
}
