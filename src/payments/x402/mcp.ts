/**
 * x402 over MCP (the x402 v2 MCP transport): the client puts its PaymentPayload in the tool call's
 * `params._meta["x402/payment"]`; a call that must be paid is answered as a tool error carrying the PaymentRequired
 * object (structuredContent, and as JSON text); a paid answer carries the settlement in `_meta["x402/payment-response"]`.
 * Same gate, same claim-before-run and settle-before-release as over HTTP (./gate.ts).
 */
import type { PaymentPayload, SettleResponse } from '@x402/core/types';
import type { X402Gate, X402Payer, X402Refusal, X402Route } from './gate.js';

export const MCP_PAYMENT_META = 'x402/payment';
export const MCP_PAYMENT_RESPONSE_META = 'x402/payment-response';

/** A tool error as the MCP SDK's CallToolResult wants it. */
export interface McpToolError {
  isError: true;
  content: { type: 'text'; text: string }[];
  structuredContent?: Record<string, unknown>;
  _meta?: Record<string, unknown>;
}

export type McpPaidCall<T> =
  | { paid: true; value: T; meta: { [MCP_PAYMENT_RESPONSE_META]: SettleResponse } }
  | { paid: false; result: McpToolError };

function paymentOf(meta: Record<string, unknown> | undefined): PaymentPayload | 'malformed' | undefined {
  const payment = meta?.[MCP_PAYMENT_META];
  if (payment === undefined) return undefined;
  if (!payment || typeof payment !== 'object' || !('accepted' in payment) || !('payload' in payment))
    return 'malformed';
  return payment as PaymentPayload;
}

function toolError(refusal: X402Refusal): McpToolError {
  if (refusal.status === 202) {
    return {
      isError: true,
      content: [{ type: 'text', text: `settlement_pending: ${refusal.message}` }],
      _meta: { [MCP_PAYMENT_RESPONSE_META]: refusal.settleResponse, paymentId: refusal.paymentId },
    };
  }
  if (refusal.status === 503 || refusal.status === 400) {
    return {
      isError: true,
      content: [{ type: 'text', text: `${refusal.error}: ${refusal.message}` }],
      _meta: { code: refusal.error.toUpperCase() },
    };
  }
  return {
    isError: true,
    content: [{ type: 'text', text: JSON.stringify(refusal.paymentRequired) }],
    structuredContent: refusal.paymentRequired as unknown as Record<string, unknown>,
  };
}

/**
 * Runs `run` for a tool call paid by x402: refused (payment required, invalid, duplicate, network down) as a tool
 * error, or the value with the settlement to put in the result's `_meta`.
 */
export async function payMcpToolCall<T>(
  gate: X402Gate,
  call: { route: X402Route; resource: string; meta: Record<string, unknown> | undefined },
  run: (payer: X402Payer, requestId: string) => Promise<T>,
): Promise<McpPaidCall<T>> {
  const claimed = await gate.claim(call.route, call.resource, paymentOf(call.meta));
  if ('refused' in claimed) return { paid: false, result: toolError(claimed.refused) };
  const { payment } = claimed;
  let value: T;
  try {
    value = await run(payment.payer, payment.requestId);
  } catch (err) {
    await gate.release(payment);
    throw err;
  }
  const settlement = await gate.settle(payment);
  if (settlement.status === 200) {
    return { paid: true, value, meta: { [MCP_PAYMENT_RESPONSE_META]: settlement.settleResponse } };
  }
  return { paid: false, result: toolError(settlement) };
}
