/**
 * x402 (v2) pay-per-call in front of the paid query endpoints, for callers without credentials. The order matters
 * (../shared/reference/pull-layer.md §A.1.5):
 *   1. no PAYMENT-SIGNATURE → 402 with PAYMENT-REQUIRED (the tool's price in the asset's smallest unit);
 *   2. the payment is verified by the facilitator, and only a valid one is claimed (a forged payload must not burn
 *      the payer's nonce); a verification that failed because the payment network is unreachable answers 503;
 *   3. the claim — INSERT on (network, asset, payer, nonce) — happens before the query runs: one signature sent N
 *      times at once runs the query once, the others are refused as duplicates;
 *   4. the query runs with the x402 payer (no ledger debit), then the payment is settled; the answer is released
 *      only on settlement success, with PAYMENT-RESPONSE. A settlement still waiting for its receipt answers 202
 *      `settlement_pending` with the transaction (not 402: the client would sign and pay again) and is reconciled;
 *      the same signature sent again collects the answer once it settled. x402_payments is the pending-settlement
 *      store shared by every API process: a payment is broadcast at most once whichever process sees it again.
 * Requests with credentials (Authorization, X-API-Key) are not ours: they pay with credits.
 */
import { createHash, randomUUID } from 'node:crypto';
import type http from 'node:http';
import {
  decodePaymentSignatureHeader,
  encodePaymentRequiredHeader,
  encodePaymentResponseHeader,
} from '@x402/core/http';
import { x402ResourceServer, type FacilitatorClient } from '@x402/core/server';
import type { PaymentPayload, PaymentRequired, PaymentRequirements, SettleResponse } from '@x402/core/types';
import { ExactEvmScheme } from '@x402/evm/exact/server';
import { getAddress, recoverTypedDataAddress, type Hex, type PublicClient } from 'viem';
import type { Queryable } from '../../db/transaction.js';
import type { Logger } from '../../logger.js';
import { atomicAmount, type X402Settings } from './config.js';
import {
  claimPayment,
  findPaymentByKey,
  giveBackDelivery,
  recordSettlement,
  releaseClaim,
  takeDelivery,
  type X402PaymentRow,
} from './payments.js';
import { reconcilePayment } from './reconcile.js';

/** The paid call a request asks for: the query tool and its input (path and query parameters). */
export interface X402Route {
  tool: string;
  input: Record<string, unknown>;
  /** Shown to the payer in the 402's resource description. */
  description?: string;
  /** Why the input cannot run: refused with 400 before any payment is asked for. */
  invalid?: string;
}

export interface X402Request {
  method: string;
  /** Absolute URL of the request (the resource paid for). */
  url: URL;
  headers: http.IncomingHttpHeaders;
}

export interface X402Response {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** What x402 pays a query with: src/queries/service.ts charges no credits for it. */
export interface X402Payer {
  kind: 'x402';
  payer: `0x${string}`;
  paymentId: string;
}

/** A verified payment, claimed for one request: run the query, then `settle`. */
export interface ClaimedPayment {
  id: string;
  requestId: string;
  route: X402Route;
  /** The URL of what is paid for (the PaymentRequired's resource). */
  resource: string;
  payer: X402Payer;
  payload: PaymentPayload;
  requirements: PaymentRequirements;
  /** Set when this request collects the answer of a payment settled earlier (after a 202): nothing to settle. */
  settledBefore?: SettleResponse;
}

/**
 * Why the answer is not given (yet), whatever the transport: 402 with what to pay, 503 when the network is down, 202
 * when the payment was sent but not confirmed (recorded and reconciled; the client must not pay again, and collects
 * the answer by sending the same signature once it settled).
 */
export type X402Refusal =
  | { status: 402; error: string; message: string; price: string; paymentRequired: PaymentRequired }
  | { status: 503; error: 'payment_network_unavailable'; message: string }
  | { status: 400; error: 'invalid_input'; message: string }
  | { status: 202; settleResponse: SettleResponse; paymentId: string; message: string };

export type X402Settlement =
  /** On chain: release the answer with the settle response. */
  { status: 200; settleResponse: SettleResponse } | X402Refusal;

export type X402Decision =
  /** Not a paid call, or the caller has credentials: the normal path. */
  | { kind: 'pass' }
  /** Answer this (402, 503) and stop. */
  | { kind: 'respond'; response: X402Response }
  | { kind: 'paid'; payment: ClaimedPayment };

export interface X402GateDeps {
  pool: Queryable;
  settings: X402Settings;
  facilitator: FacilitatorClient;
  /** The payment network (when its RPC is known): tells an outage from a bad payment. */
  network: PublicClient | undefined;
  logger: Logger;
  /** A tool's price per call, USDC as a decimal string. */
  priceOf(tool: string): string;
  /** The paid call an HTTP request is for; undefined when the path is not one. */
  route(method: string, url: URL): X402Route | undefined;
}

const EIP3009_TYPES = {
  TransferWithAuthorization: [
    { name: 'from', type: 'address' },
    { name: 'to', type: 'address' },
    { name: 'value', type: 'uint256' },
    { name: 'validAfter', type: 'uint256' },
    { name: 'validBefore', type: 'uint256' },
    { name: 'nonce', type: 'bytes32' },
  ],
} as const;

interface Eip3009Authorization {
  from: string;
  to: string;
  value: string;
  validAfter: string;
  validBefore: string;
  nonce: string;
}

function authorizationOf(payload: PaymentPayload): { authorization: Eip3009Authorization; signature: Hex } | undefined {
  const { authorization, signature } = payload.payload as { authorization?: Eip3009Authorization; signature?: Hex };
  const fields = ['from', 'to', 'value', 'validAfter', 'validBefore', 'nonce'] as const;
  if (!authorization || typeof signature !== 'string') return undefined;
  if (!fields.every((f) => typeof authorization[f] === 'string')) return undefined;
  if (!/^0x[0-9a-fA-F]{40}$/.test(authorization.from) || !/^0x[0-9a-fA-F]{64}$/.test(authorization.nonce))
    return undefined;
  if (!/^\d{1,78}$/.test(authorization.value) || !/^\d{1,78}$/.test(authorization.validBefore)) return undefined;
  return { authorization, signature };
}

/**
 * The query service's request id for a paid call: one payment, one metered call — a second run for the same payment
 * (collecting an answer after a pending settlement) is a replay in usage_logs, not a second sale.
 */
export const x402RequestId = (payer: X402Payer): string => `x402:${payer.paymentId}`;

export function hasCredentials(headers: http.IncomingHttpHeaders): boolean {
  return Boolean(headers.authorization || headers['x-api-key']);
}

/** The payment a request carries: PAYMENT-SIGNATURE (or v1's X-PAYMENT), 'malformed' when unreadable. */
export function paymentPayloadOf(headers: http.IncomingHttpHeaders): PaymentPayload | 'malformed' | undefined {
  const header = headers['payment-signature'] ?? headers['x-payment'];
  if (typeof header !== 'string' || header === '') return undefined;
  try {
    return decodePaymentSignatureHeader(header);
  } catch {
    return 'malformed';
  }
}

export class X402Gate {
  private readonly server: x402ResourceServer;
  private ready: Promise<void> | undefined;
  private readonly log: Logger;

  constructor(private readonly deps: X402GateDeps) {
    this.server = new x402ResourceServer(deps.facilitator).register(deps.settings.network, new ExactEvmScheme());
    this.log = deps.logger.child({ component: 'x402' });
  }

  /** Asks the facilitator what it supports (once; again after a failure). */
  private initialize(): Promise<void> {
    this.ready ??= this.server.initialize().catch((err: unknown) => {
      this.ready = undefined;
      throw err;
    });
    return this.ready;
  }

  /** The one way to pay for `tool`: exact amount of our asset to our payTo. */
  async requirementsFor(tool: string): Promise<PaymentRequirements[]> {
    await this.initialize();
    const { settings } = this.deps;
    return this.server.buildPaymentRequirements({
      scheme: 'exact',
      network: settings.network,
      payTo: settings.payTo,
      maxTimeoutSeconds: settings.maxTimeoutSeconds,
      price: {
        asset: settings.asset.address,
        amount: atomicAmount(this.deps.priceOf(tool), settings.asset.decimals).toString(),
        extra: { name: settings.asset.name, version: settings.asset.version },
      },
    });
  }

  /** The terms of one call (x402 PaymentRequired), with `error` saying why they are sent. */
  async paymentRequired(route: X402Route, resource: string, error = 'payment_required'): Promise<PaymentRequired> {
    return this.server.createPaymentRequiredResponse(
      await this.requirementsFor(route.tool),
      {
        url: resource,
        description: route.description ?? `${route.tool} (${this.deps.priceOf(route.tool)} USDC per call)`,
        mimeType: 'application/json',
      },
      error,
    );
  }

  private async refusal(route: X402Route, resource: string, error: string, message: string): Promise<X402Refusal> {
    const paymentRequired = await this.paymentRequired(route, resource, error);
    return { status: 402, error, message, price: this.deps.priceOf(route.tool), paymentRequired };
  }

  private unavailable(message: string): X402Refusal {
    return { status: 503, error: 'payment_network_unavailable', message };
  }

  /**
   * Steps 1 to 3 for any transport: `payload` is what the client sent (undefined: nothing; 'malformed': not a
   * payment payload). Either a refusal to answer, or a payment claimed for this call.
   */
  async claim(
    route: X402Route,
    resource: string,
    payload: PaymentPayload | 'malformed' | undefined,
  ): Promise<{ refused: X402Refusal } | { payment: ClaimedPayment }> {
    if (route.invalid) return { refused: { status: 400, error: 'invalid_input', message: route.invalid } };
    let requirements: PaymentRequirements[];
    try {
      requirements = await this.requirementsFor(route.tool);
    } catch (err) {
      this.log.warn({ err }, 'x402 facilitator unavailable');
      return { refused: this.unavailable('the payment facilitator cannot be reached; retry shortly') };
    }
    const refuse = async (error: string, message: string) => ({
      refused: await this.refusal(route, resource, error, message),
    });
    if (payload === undefined) {
      return refuse('payment_required', `this call costs ${this.deps.priceOf(route.tool)} USDC: pay with x402`);
    }
    if (payload === 'malformed') return refuse('invalid_payment', 'the payment is not an x402 payment payload');
    if (payload.x402Version !== 2) return refuse('invalid_x402_version', 'only x402 version 2 is accepted');
    const matched = this.server.findMatchingRequirements(requirements, payload);
    const signed = authorizationOf(payload);
    if (!matched || !signed) {
      return refuse('payment_requirements_mismatch', 'the payment does not match what this call requires');
    }

    const { authorization } = signed;
    const signatureHash = createHash('sha256').update(signed.signature.toLowerCase()).digest('hex');
    const key = {
      network: matched.network,
      asset: matched.asset,
      payer: authorization.from,
      nonce: authorization.nonce,
    };
    const earlier = await findPaymentByKey(this.deps.pool, key);
    if (earlier?.signature_hash === signatureHash && earlier.tool === route.tool && !earlier.delivered_at) {
      const collected = await this.collect(earlier, route, resource, payload, matched);
      if (collected) return collected;
    }

    let verified;
    try {
      verified = await this.server.verifyPayment(payload, matched);
    } catch (err) {
      this.log.warn({ err }, 'x402 verification failed');
      return { refused: this.unavailable('the payment could not be verified now; retry shortly') };
    }
    // An unreachable RPC makes a good payment look invalid (the simulation fails): that is ours, not the payer's.
    if (!verified.isValid) {
      if (await this.isOutage(signed, matched)) {
        return {
          refused: this.unavailable('the payment network cannot be reached; the payment was not used, retry shortly'),
        };
      }
      return refuse(verified.invalidReason ?? 'invalid_payment', verified.invalidMessage ?? 'the payment is invalid');
    }

    const requestId = randomUUID();
    const claim = await claimPayment(this.deps.pool, {
      ...key,
      signatureHash,
      payTo: matched.payTo,
      amount: BigInt(matched.amount),
      validBefore: BigInt(authorization.validBefore),
      tool: route.tool,
      requestId,
    });
    if (!claim.claimed) {
      const { status } = claim.existing;
      return refuse(
        status === 'settled' ? 'payment_already_used' : 'duplicate_payment',
        status === 'settled'
          ? 'this payment has already paid for a call: sign a new one'
          : `this payment is already being used by another request (${status}): it runs once`,
      );
    }
    const payer = getAddress(authorization.from);
    return {
      payment: {
        id: claim.id,
        requestId,
        route,
        resource,
        payer: { kind: 'x402', payer, paymentId: claim.id },
        payload,
        requirements: matched,
      },
    };
  }

  /**
   * The same signature again after a 202 pending: still pending (202 again, unless the chain now says settled or
   * failed), or settled and not yet answered — then this request, and only one, runs the query and gets the answer.
   * Undefined: nothing to collect (a settled payment already answered, a failed one), the normal checks refuse it.
   */
  private async collect(
    earlier: X402PaymentRow,
    route: X402Route,
    resource: string,
    payload: PaymentPayload,
    requirements: PaymentRequirements,
  ): Promise<{ refused: X402Refusal } | { payment: ClaimedPayment } | undefined> {
    let status = earlier.status;
    const transaction = earlier.transaction_hash ?? '';
    const payer = getAddress(earlier.payer);
    if (status === 'pending' && this.deps.network) {
      status = (await reconcilePayment(this.deps.pool, this.deps.network, earlier).catch(() => undefined)) ?? status;
    }
    if (status === 'pending') {
      const settleResponse = {
        success: false,
        errorReason: 'settlement_pending',
        transaction,
        network: requirements.network,
        payer,
      };
      return { refused: this.pending(earlier.id, settleResponse) };
    }
    if (status !== 'settled') return undefined;
    if (!(await takeDelivery(this.deps.pool, earlier.id))) {
      return { refused: await this.refusal(route, resource, 'duplicate_payment', 'this answer is being delivered') };
    }
    return {
      payment: {
        id: earlier.id,
        requestId: randomUUID(),
        route,
        resource,
        payer: { kind: 'x402', payer, paymentId: earlier.id },
        payload,
        requirements,
        settledBefore: { success: true, transaction, network: requirements.network, payer },
      },
    };
  }

  private pending(paymentId: string, settleResponse: SettleResponse): X402Refusal {
    return {
      status: 202,
      settleResponse,
      paymentId,
      message:
        'the payment was sent but is not confirmed yet; it is recorded and will not be charged again. ' +
        'Do not sign a new payment: send the same one again later to collect the answer.',
    };
  }

  /** The query could not run (bad input, unknown agent…): nothing was sent to the chain, the signature may be reused. */
  async release(payment: ClaimedPayment): Promise<void> {
    if (payment.settledBefore) await giveBackDelivery(this.deps.pool, payment.id);
    else await releaseClaim(this.deps.pool, payment.id);
  }

  /** Step 4, after the query ran: settle; the answer may be released only on status 200. */
  async settle(payment: ClaimedPayment): Promise<X402Settlement> {
    if (payment.settledBefore) return { status: 200, settleResponse: payment.settledBefore };
    let result: SettleResponse;
    try {
      result = await this.server.settlePayment(payment.payload, payment.requirements);
    } catch (err) {
      result = {
        success: false,
        transaction: '',
        network: payment.requirements.network,
        errorReason: (err as Error).message,
      };
    }
    const log = this.log.child({ paymentId: payment.id, tool: payment.route.tool, payer: payment.payer.payer });
    if (result.success) {
      await recordSettlement(this.deps.pool, payment.id, {
        status: 'settled',
        transactionHash: result.transaction,
        delivered: true,
      });
      log.info({ transaction: result.transaction }, 'x402 payment settled');
      return { status: 200, settleResponse: result };
    }
    if (result.errorReason === 'settlement_pending' && result.transaction) {
      await recordSettlement(this.deps.pool, payment.id, {
        status: 'pending',
        transactionHash: result.transaction,
        error: result.errorMessage,
      });
      log.warn({ transaction: result.transaction }, 'x402 settlement pending: reconciled later');
      return this.pending(payment.id, result);
    }
    const signed = authorizationOf(payment.payload);
    if (!result.transaction && signed && (await this.isOutage(signed, payment.requirements))) {
      // Whether it reached the chain is unknown: the claim stays, and the reconciler decides once the network answers.
      log.warn({ reason: result.errorReason }, 'x402 settlement failed: payment network unreachable');
      return this.unavailable(
        'the payment network cannot be reached; this payment is held until it is known whether it was sent',
      );
    }
    const reason = result.errorReason ?? 'settlement_failed';
    await recordSettlement(this.deps.pool, payment.id, {
      status: 'failed',
      transactionHash: result.transaction || undefined,
      error: `${reason}${result.errorMessage ? `: ${result.errorMessage}` : ''}`.slice(0, 1000),
    });
    log.warn({ reason, transaction: result.transaction }, 'x402 settlement failed');
    return this.refusal(
      payment.route,
      payment.resource,
      reason,
      'the payment could not be settled; nothing was charged',
    );
  }

  /**
   * True when a payment was refused because the network did not answer: its signature is the payer's (checked
   * without the network) and the RPC does not answer. A wrong signature is the payer's fault whatever the network.
   */
  private async isOutage(
    signed: { authorization: Eip3009Authorization; signature: Hex },
    requirements: PaymentRequirements,
  ): Promise<boolean> {
    const { network, settings } = this.deps;
    if (!network) return false;
    const { authorization, signature } = signed;
    try {
      const signer = await recoverTypedDataAddress({
        domain: {
          name: String(requirements.extra.name),
          version: String(requirements.extra.version),
          chainId: settings.chainId,
          verifyingContract: getAddress(requirements.asset),
        },
        types: EIP3009_TYPES,
        primaryType: 'TransferWithAuthorization',
        message: {
          from: getAddress(authorization.from),
          to: getAddress(authorization.to),
          value: BigInt(authorization.value),
          validAfter: BigInt(authorization.validAfter),
          validBefore: BigInt(authorization.validBefore),
          nonce: authorization.nonce as Hex,
        },
        signature,
      });
      if (getAddress(signer) !== getAddress(authorization.from)) return false;
    } catch {
      // Not an EOA signature (a smart wallet's ERC-1271 one): only the network can judge it.
    }
    try {
      await network.getBlockNumber({ cacheTime: 0 });
      return false;
    } catch {
      return true;
    }
  }

  /** Steps 1 to 3 over HTTP: PAYMENT-SIGNATURE (or v1's X-PAYMENT) in, a decision out. */
  async decide(request: X402Request): Promise<X402Decision> {
    if (hasCredentials(request.headers)) return { kind: 'pass' };
    const route = this.deps.route(request.method, request.url);
    if (!route) return { kind: 'pass' };
    const claimed = await this.claim(route, request.url.toString(), paymentPayloadOf(request.headers));
    if ('refused' in claimed) return { kind: 'respond', response: httpResponse(claimed.refused) };
    return { kind: 'paid', payment: claimed.payment };
  }

  /** Runs the whole exchange on a Node request: false when the request is not an x402 one (the caller serves it). */
  async serve(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: URL,
    run: (route: X402Route, payer: X402Payer, requestId: string) => Promise<unknown>,
  ): Promise<boolean> {
    const decision = await this.decide({ method: req.method ?? 'GET', url, headers: req.headers });
    if (decision.kind === 'pass') return false;
    if (decision.kind === 'respond') {
      writeJson(res, decision.response);
      return true;
    }
    const { payment } = decision;
    writeJson(res, await this.answer(payment, () => run(payment.route, payment.payer, payment.requestId)));
    return true;
  }

  /**
   * Step 4 around the paid work, for any HTTP door: runs it, gives the payment back when it throws (nothing was sent
   * to the chain: the same signature may be sent again), then settles; `body` is released only on settlement.
   */
  async answer(payment: ClaimedPayment, run: () => Promise<unknown>): Promise<X402Response> {
    let body: unknown;
    try {
      body = await run();
    } catch (err) {
      await this.release(payment);
      throw err;
    }
    return httpResponse(await this.settle(payment), body);
  }
}

/** A refusal or a settlement as HTTP: `body` (the answer) only with a settlement that succeeded. */
export function httpResponse(outcome: X402Settlement, body?: unknown): X402Response {
  switch (outcome.status) {
    case 200:
      return {
        status: 200,
        headers: { 'PAYMENT-RESPONSE': encodePaymentResponseHeader(outcome.settleResponse) },
        body,
      };
    case 202:
      return {
        status: 202,
        headers: { 'PAYMENT-RESPONSE': encodePaymentResponseHeader(outcome.settleResponse) },
        body: {
          error: 'settlement_pending',
          message: outcome.message,
          paymentId: outcome.paymentId,
          transaction: outcome.settleResponse.transaction,
        },
      };
    case 402:
      return {
        status: 402,
        headers: {
          'PAYMENT-REQUIRED': encodePaymentRequiredHeader(outcome.paymentRequired),
          'Cache-Control': 'no-store',
        },
        body: { error: outcome.error, message: outcome.message, price: outcome.price, currency: 'USDC' },
      };
    case 503:
      return { status: 503, headers: { 'Retry-After': '5' }, body: { error: outcome.error, message: outcome.message } };
    case 400:
      return { status: 400, headers: {}, body: { error: outcome.error, message: outcome.message } };
  }
}

export function writeJson(res: http.ServerResponse, response: X402Response): void {
  const payload = JSON.stringify(response.body);
  res.writeHead(response.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    ...response.headers,
  });
  res.end(payload);
}
