/**
 * x402 over MCP (the x402 v2 MCP transport), as the MCP server's pay-per-call seam wants it (src/mcp/pay-per-call.ts,
 * McpPayPerCall): the terms of a call (PaymentRequired, sent as a tool error), and the verification of the payload a
 * client put in `params._meta["x402/payment"]` — claimed before the query runs, settled after, the SettleResponse
 * going out in `result._meta["x402/payment-response"]`. Same gate, claim and settlement as over HTTP (./gate.ts).
 * The types are structural, so this module does not depend on the MCP server's.
 */
import type { PaymentPayload } from '@x402/core/types';
import type { ClaimedPayment, X402Gate, X402Payer, X402Refusal, X402Settlement } from './gate.js';

/** One tools/call an anonymous caller is asked to pay for. */
export interface McpPaidToolCall {
  tool: { name: string };
  /** The MCP endpoint's URL with the tool's name as fragment: the x402 `resource.url`. */
  resourceUrl: string;
}

type X402Object = Record<string, unknown>;

export type McpPaymentRefusal =
  | { kind: 'payment_required'; paymentRequired: X402Object; response?: X402Object }
  | { kind: 'failed'; code: string; message: string; response?: X402Object };

export type McpPaymentVerification =
  | {
      ok: true;
      payer: X402Payer;
      settle(): Promise<{ success: true; response: X402Object } | { success: false; refusal: McpPaymentRefusal }>;
      /** The query could not run: gives the claim up (nothing was sent to the chain; the payment may be sent again). */
      release(): Promise<void>;
    }
  | { ok: false; refusal: McpPaymentRefusal };

const asObject = (value: object) => value as unknown as X402Object;

function refusalOf(refusal: X402Refusal): McpPaymentRefusal {
  switch (refusal.status) {
    case 402:
      return { kind: 'payment_required', paymentRequired: asObject(refusal.paymentRequired) };
    case 202:
      return {
        kind: 'failed',
        code: 'SETTLEMENT_PENDING',
        message: refusal.message,
        response: asObject(refusal.settleResponse),
      };
    case 503:
      return { kind: 'failed', code: 'PAYMENT_NETWORK_UNAVAILABLE', message: refusal.message };
    case 400:
      return { kind: 'failed', code: 'INVALID_PARAMS', message: refusal.message };
  }
}

function payloadOf(payment: unknown): PaymentPayload | 'malformed' | undefined {
  if (payment === undefined) return undefined;
  if (!payment || typeof payment !== 'object' || !('accepted' in payment) || !('payload' in payment))
    return 'malformed';
  return payment as PaymentPayload;
}

/** The MCP server's McpPayPerCall over our x402 gate. */
export function x402McpPayPerCall(gate: X402Gate) {
  const routeOf = (call: McpPaidToolCall) => ({ tool: call.tool.name, input: {} });
  const settled = (outcome: X402Settlement) =>
    outcome.status === 200
      ? { success: true as const, response: asObject(outcome.settleResponse) }
      : { success: false as const, refusal: refusalOf(outcome) };
  return {
    async paymentRequired(call: McpPaidToolCall): Promise<X402Object> {
      return asObject(await gate.paymentRequired(routeOf(call), call.resourceUrl));
    },
    async verify(call: McpPaidToolCall, payment: unknown): Promise<McpPaymentVerification> {
      const claimed = await gate.claim(routeOf(call), call.resourceUrl, payloadOf(payment));
      if ('refused' in claimed) return { ok: false, refusal: refusalOf(claimed.refused) };
      const claim: ClaimedPayment = claimed.payment;
      return {
        ok: true,
        payer: claim.payer,
        settle: async () => settled(await gate.settle(claim)),
        release: () => gate.release(claim),
      };
    },
  };
}
