import type http from 'node:http';
import { isBillingError } from '../billing/errors.js';
import type { StripeBilling } from '../billing/stripe.js';
import { HttpError, readRawBody } from './http.js';

export const STRIPE_WEBHOOK_PATH = '/api/v1/billing/stripe/webhook';

/** Stripe's event payloads are a few KB; this leaves room for large invoices without inviting floods. */
export const MAX_STRIPE_WEBHOOK_BYTES = 1024 * 1024;

/**
 * POST /api/v1/billing/stripe/webhook: the body is read as raw bytes (the signature covers them exactly, so no JSON
 * parsing before verification), verified and applied in one transaction (src/billing/stripe.ts). 2xx once applied or
 * found applied before; 400 when the signature does not verify; 503 when billing is not configured. Anything else is a
 * 500, which Stripe retries.
 */
export async function handleStripeWebhookRequest(
  req: http.IncomingMessage,
  billing: StripeBilling | undefined,
): Promise<{ status: number; body: unknown }> {
  if (req.method !== 'POST') throw new HttpError(405, 'method not allowed');
  if (!billing) throw new HttpError(503, 'billing is not configured');
  const raw = await readRawBody(req, MAX_STRIPE_WEBHOOK_BYTES);
  const signature = req.headers['stripe-signature'];
  try {
    const outcome = await billing.handleStripeWebhook(raw, Array.isArray(signature) ? signature[0] : signature);
    return { status: 200, body: { received: true, ...outcome } };
  } catch (err) {
    if (isBillingError(err, 'invalid_signature')) throw new HttpError(400, err.message);
    throw err;
  }
}
