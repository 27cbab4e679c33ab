/**
 * The seam for x402 pay-per-call on the MCP endpoint, for callers without credentials (x402 v2, MCP transport):
 *  1. a tools/call without payment is answered with a tool error (`isError: true`) whose first content block is the
 *     x402 `PaymentRequired` object as JSON text (see paymentRefused in ./tools.ts for why not structured content);
 *  2. the client retries the same call with the signed `PaymentPayload` in `params._meta["x402/payment"]`;
 *  3. the server verifies it (and claims its nonce, so that duplicates run nothing), runs the query with an x402 payer
 *     (no ledger debit), settles, and answers with the `SettleResponse` in `result._meta["x402/payment-response"]`.
 *     The answer is released only when the settlement succeeded.
 * The MCP server (./tools.ts) runs that flow; an implementation of this interface does the x402 part. Without one,
 * a request without credentials is refused with 401 like any other.
 */
import type { QueryTool } from '../queries/tool.js';
import type { Logger } from '../logger.js';
import type { QueryPayer } from '../queries/service.js';

export const X402_PAYMENT_META = 'x402/payment';
export const X402_PAYMENT_RESPONSE_META = 'x402/payment-response';

/** One tools/call an anonymous caller is asked to pay for. */
export interface PaidToolCall {
  tool: QueryTool;
  /** The call's price, USDC (decimal string), as the query service charges it. */
  price: string;
  /** The URL of the MCP endpoint with the tool's name as fragment: the x402 `resource.url`. */
  resourceUrl: string;
  /** The query service's request id for this call. */
  requestId: string;
  log: Logger;
}

/** x402 JSON objects (PaymentRequired, SettleResponse) as the x402 packages build them. */
export type X402Object = Record<string, unknown>;

/** Why a payment does not (yet) pay for the call. */
export type PaymentRefusal =
  /** Pay (again): the terms, with the reason in their `error` (an invalid, replayed or duplicate payment). */
  | { kind: 'payment_required'; paymentRequired: X402Object; response?: X402Object }
  /**
   * Not the payer's fault, and paying again would pay twice: the payment network is unreachable, or a settlement is
   * still waiting for its receipt (recorded, reconciled later). A tool error with this code and message.
   */
  | { kind: 'failed'; code: string; message: string; response?: X402Object };

export type PaymentVerification =
  | {
      ok: true;
      /** Who paid and which payment: the query service records it instead of charging an organization. */
      payer: Extract<QueryPayer, { kind: 'x402' }>;
      /** Settles the verified (and claimed) payment once the answer is computed. */
      settle(): Promise<PaymentSettlement>;
      /** The query was refused or failed: nothing is settled, and the claim is given up so the payer may retry. */
      release(): Promise<void>;
    }
  | { ok: false; refusal: PaymentRefusal };

/** A settlement that did not succeed withholds the answer. */
export type PaymentSettlement = { success: true; response: X402Object } | { success: false; refusal: PaymentRefusal };

export interface McpPayPerCall {
  /** The payment terms of one call (x402 `PaymentRequired`, `x402Version: 2`). */
  paymentRequired(call: PaidToolCall): Promise<X402Object>;
  /** Verifies and claims the payload a client sent in `_meta["x402/payment"]`. */
  verify(call: PaidToolCall, payment: unknown): Promise<PaymentVerification>;
}
