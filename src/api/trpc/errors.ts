/** The one mapping from domain errors to API errors (and so to HTTP statuses, for tRPC and REST alike). */
import { TRPCError } from '@trpc/server';
import { ZodError } from 'zod';
import { AuthError } from '../../auth/errors.js';
import { DefinitionError } from '../../triggers/definition.js';
import { TriggerNotFoundError } from '../../triggers/service.js';
import { BacktestRequestError } from '../../triggers/backtest.js';
import { QuotaExceededError } from '../../billing/quotas.js';
import { BillingError, type BillingErrorCode } from '../../billing/errors.js';
import { QueryError, type QueryErrorCode } from '../../queries/errors.js';
import { AgentError, type AgentErrorCode } from '../../agents/errors.js';

/** A domain "not found" or "conflict" raised by API services. */
export class ApiError extends Error {
  constructor(
    readonly code: 'NOT_FOUND' | 'CONFLICT' | 'BAD_REQUEST' | 'FORBIDDEN',
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

const AUTH_CODES: Record<AuthError['code'], TRPCError['code']> = {
  invalid_credentials: 'UNAUTHORIZED',
  locked: 'TOO_MANY_REQUESTS',
  token_expired: 'UNAUTHORIZED',
  token_invalid: 'UNAUTHORIZED',
  token_reused: 'UNAUTHORIZED',
  conflict: 'CONFLICT',
  forbidden: 'FORBIDDEN',
  not_found: 'NOT_FOUND',
  invalid_signature: 'UNAUTHORIZED',
  nonce_used: 'UNAUTHORIZED',
  nonce_expired: 'UNAUTHORIZED',
  invalid_input: 'BAD_REQUEST',
};

const BILLING_CODES: Record<BillingErrorCode, TRPCError['code']> = {
  invalid_amount: 'BAD_REQUEST',
  invalid_input: 'BAD_REQUEST',
  unknown_pack: 'BAD_REQUEST',
  unknown_plan: 'BAD_REQUEST',
  // The credits do not cover a paid call, or a reversed payment left a debt: pay (top up) and retry.
  insufficient_credits: 'PAYMENT_REQUIRED',
  account_owes: 'PAYMENT_REQUIRED',
  idempotency_conflict: 'CONFLICT',
  duplicate_reference: 'CONFLICT',
  hold_not_active: 'CONFLICT',
  hold_not_found: 'NOT_FOUND',
  // The server, not the caller, lacks the Stripe settings: 503 with the message naming them.
  billing_not_configured: 'SERVICE_UNAVAILABLE',
  // Only the webhook route verifies signatures (and answers 400 itself); a procedure never should.
  invalid_signature: 'BAD_REQUEST',
};

const QUERY_CODES: Record<QueryErrorCode, TRPCError['code']> = {
  chain_not_indexed: 'NOT_FOUND',
  block_not_indexed: 'BAD_REQUEST',
  block_hash_unknown: 'BAD_REQUEST',
  invalid_params: 'BAD_REQUEST',
  unknown_tool: 'NOT_FOUND',
};

const AGENT_CODES: Record<AgentErrorCode, TRPCError['code']> = {
  unknown_chain: 'NOT_FOUND',
  agent_not_found: 'NOT_FOUND',
  invalid_challenge: 'BAD_REQUEST',
  challenge_expired: 'BAD_REQUEST',
  challenge_used: 'CONFLICT',
  // The caller is signed in; the proof of control is what fails: 403, not 401.
  invalid_signature: 'FORBIDDEN',
  link_not_found: 'NOT_FOUND',
  not_linked: 'FORBIDDEN',
  token_not_found: 'NOT_FOUND',
  token_exists: 'CONFLICT',
  follow_not_found: 'NOT_FOUND',
  chain_unavailable: 'SERVICE_UNAVAILABLE',
};

export function toTRPCError(err: unknown): TRPCError {
  if (err instanceof TRPCError) return err;
  if (err instanceof DefinitionError) {
    return new TRPCError({
      code: 'BAD_REQUEST',
      message: err.message,
      cause: Object.assign(new Error(err.message), {
        issues: err.issues.map((i) => ({ path: i.path.split('.'), message: i.message })),
      }),
    });
  }
  if (err instanceof ZodError) return new TRPCError({ code: 'BAD_REQUEST', message: 'invalid input', cause: err });
  if (err instanceof TriggerNotFoundError) return new TRPCError({ code: 'NOT_FOUND', message: err.message });
  if (err instanceof BacktestRequestError) return new TRPCError({ code: 'BAD_REQUEST', message: err.message });
  // The caller may not have more on its plan: 403 naming the limit and the plan that lifts it.
  if (err instanceof QuotaExceededError) return new TRPCError({ code: 'FORBIDDEN', message: err.message });
  if (err instanceof BillingError)
    return new TRPCError({ code: BILLING_CODES[err.code] ?? 'BAD_REQUEST', message: err.message });
  if (err instanceof QueryError) return new TRPCError({ code: QUERY_CODES[err.code], message: err.message });
  if (err instanceof AgentError) return new TRPCError({ code: AGENT_CODES[err.code], message: err.message });
  if (err instanceof ApiError) return new TRPCError({ code: err.code, message: err.message });
  if (err instanceof AuthError)
    return new TRPCError({ code: AUTH_CODES[err.code] ?? 'UNAUTHORIZED', message: err.message });
  // Postgres input errors that slipped past validation are the caller's fault, not a crash.
  const pgCode = (err as { code?: string } | undefined)?.code;
  if (pgCode === '22P02' || pgCode === '22003' || pgCode === '23514')
    return new TRPCError({ code: 'BAD_REQUEST', message: 'invalid value' });
  if (pgCode === '23505') return new TRPCError({ code: 'CONFLICT', message: 'already exists' });
  return new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: 'internal error' });
}
