/**
 * The one error type of the authentication services. The API maps `code` to an HTTP status (src/api/trpc/errors.ts);
 * `message` is safe to show to the caller.
 */
export type AuthErrorCode =
  | 'invalid_credentials'
  | 'locked'
  | 'token_expired'
  | 'token_invalid'
  | 'token_reused'
  | 'conflict'
  | 'forbidden'
  | 'not_found'
  | 'invalid_signature'
  | 'nonce_used'
  | 'nonce_expired'
  /** Input that is well-formed but breaks a rule (the message says which field and why). */
  | 'invalid_input';

export class AuthError extends Error {
  readonly code: AuthErrorCode;
  /** For 'locked': seconds until another attempt is accepted (Retry-After). */
  readonly retryAfterSeconds?: number;

  constructor(code: AuthErrorCode, message: string, options: { retryAfterSeconds?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AuthError';
    this.code = code;
    if (options.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

export function isAuthError(err: unknown, code?: AuthErrorCode): err is AuthError {
  return err instanceof AuthError && (code === undefined || err.code === code);
}
