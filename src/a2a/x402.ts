/**
 * x402 on the A2A endpoints, for callers without an account: one `SendMessage` (JSON-RPC, or POST
 * /a2a/rest/message:send) carrying PAYMENT-SIGNATURE pays for its one query, as REST queries are paid
 * (src/payments/x402/gate.ts): without a payment, 402 with PAYMENT-REQUIRED; with one, the payment is claimed, the
 * query answered inline (it is paid already: no hold, no workflow), the payment settled, and the COMPLETED task
 * returned with PAYMENT-RESPONSE. The task is kept under the paying wallet. Other methods need an account.
 */
import type http from 'node:http';
import { randomUUID } from 'node:crypto';
import { SendMessageRequest, SendMessageResponse, TaskState } from '@a2a-js/sdk';
import {
  A2AError,
  RequestMalformedError,
  VersionNotSupportedError,
  restStatusFor,
  toJsonRpcError,
  toRestErrorBody,
} from '@a2a-js/sdk/errors';
import type { ApiServices } from '../api/trpc/context.js';
import { HttpError, readJsonBody, sendJson } from '../api/http.js';
import { httpResponse, paymentPayloadOf, writeJson, x402RequestId, type X402Gate } from '../payments/x402/gate.js';
import { A2A_JSONRPC_PATH, A2A_PROTOCOL_VERSION, A2A_REST_PATH } from './card.js';
import { argumentBytes, queryRequestOf } from './query-request.js';
import { finishTask, insertTask, loadTask, statusOf } from './tasks.js';

export const A2A_REST_SEND_PATH = `${A2A_REST_PATH}/message:send`;
const MAX_BODY_BYTES = 64 * 1024;

/** Whether an unauthenticated request is one x402 can pay for (else it is refused as unauthenticated). */
export const isPayableA2APath = (method: string | undefined, path: string): boolean =>
  method === 'POST' && (path === A2A_JSONRPC_PATH || path === A2A_REST_SEND_PATH);

export async function serveX402SendMessage(
  services: ApiServices,
  gate: X402Gate,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  path: string,
): Promise<void> {
  const jsonRpc = path === A2A_JSONRPC_PATH;
  const body = (await readJsonBody(req, MAX_BODY_BYTES)) as Record<string, unknown> | undefined;
  const id = jsonRpc ? (body?.id ?? null) : undefined;
  const refuse = (error: A2AError) =>
    jsonRpc
      ? sendJson(res, 200, { jsonrpc: '2.0', id, error: toJsonRpcError(error) })
      : sendJson(res, restStatusFor(error), toRestErrorBody(error, restStatusFor(error)));

  if (jsonRpc && body?.method !== 'SendMessage') {
    throw new HttpError(401, 'an API key or OAuth token is required; only SendMessage may be paid for with x402');
  }
  if (req.headers['a2a-version'] !== A2A_PROTOCOL_VERSION) {
    return refuse(new VersionNotSupportedError(`A2A-Version ${A2A_PROTOCOL_VERSION} is required`));
  }
  let request: SendMessageRequest;
  try {
    request = SendMessageRequest.fromJSON(jsonRpc ? body?.params : body);
  } catch (err) {
    return refuse(new RequestMalformedError(`not a SendMessage request: ${(err as Error).message}`));
  }
  const message = request.message;
  if (!message?.messageId) return refuse(new RequestMalformedError('message.messageId is required'));
  const { maxArgumentBytes } = services.a2a.limits;
  if (argumentBytes(message) > maxArgumentBytes) {
    return refuse(new RequestMalformedError(`the message's data exceeds ${maxArgumentBytes} bytes`));
  }

  const query = queryRequestOf(message, services.queries);
  const route = { tool: query.tool, input: query.ok ? query.input : {}, invalid: query.ok ? undefined : query.reason };
  const claimed = await gate.claim(route, `${services.publicUrl}${path}#${query.tool}`, paymentPayloadOf(req.headers));
  if ('refused' in claimed) return writeJson(res, httpResponse(claimed.refused));
  const { payment } = claimed;
  const owner = { payerAddress: payment.payer.payer };
  // The payment's record names the task: collecting an answer after a pending settlement finds the same task.
  const ids = { id: payment.payer.paymentId, contextId: message.contextId || randomUUID() };
  const response = await gate.answer(payment, async () => {
    const outcome = await services.queries.call({
      tool: query.tool,
      input: route.input,
      payer: payment.payer,
      requestId: x402RequestId(payment.payer),
      surface: 'a2a',
    });
    await insertTask(services.pool, {
      ...ids,
      owner,
      paymentReference: payment.payer.paymentId,
      tool: query.tool,
      arguments: route.input,
      price: outcome.billing.price,
      message: { ...message, taskId: ids.id, contextId: ids.contextId },
      status: statusOf(ids, TaskState.TASK_STATE_SUBMITTED),
    });
    await finishTask(services.pool, ids.id, {
      state: 'completed',
      answer: outcome.answer,
      cost: outcome.billing.price,
    });
    const task = await loadTask(services.pool, ids.id, owner);
    const result = SendMessageResponse.toJSON({ payload: { $case: 'task', value: task! } });
    return jsonRpc ? { jsonrpc: '2.0', id, result } : result;
  });
  writeJson(res, response);
}
