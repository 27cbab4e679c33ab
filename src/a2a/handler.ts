/**
 * The A2A endpoints: the agent card, JSON-RPC at /a2a/jsonrpc and HTTP+JSON at /a2a/rest (the SDK's Express
 * handlers, which also answer a request without `A2A-Version: 1.0` with VersionNotSupported, -32009). Callers
 * authenticate as on /mcp (an API key or OAuth token with read; src/mcp/auth.ts): without one, 401 — unless x402 is
 * enabled and the request is a SendMessage that pays for itself (./x402.ts).
 */
import type http from 'node:http';
import express, { type Request as ExpressRequest, type Response as ExpressResponse } from 'express';
import { jsonRpcHandler, restHandler, type UserBuilder } from '@a2a-js/sdk/server/express';
import { UnauthenticatedUser } from '@a2a-js/sdk/server';
import type { ApiServices } from '../api/trpc/context.js';
import { floodRefusal } from '../api/trpc/context.js';
import { sendJson } from '../api/http.js';
import { rateLimitHeaders } from '../rate-limit.js';
import { authenticateMcpRequest } from '../mcp/auth.js';
import { A2A_CARD_PATH, A2A_JSONRPC_PATH, A2A_REST_PATH, agentCardDocument, buildAgentCard } from './card.js';
import { QueryTaskExecutor } from './executor.js';
import { QueryTaskRequestHandler } from './request-handler.js';
import { OrganizationUser } from './user.js';
import { isPayableA2APath, serveX402SendMessage } from './x402.js';
import { hasCredentials } from '../payments/x402/gate.js';

export const isA2APath = (pathname: string): boolean =>
  pathname === A2A_CARD_PATH || pathname.startsWith(`${A2A_JSONRPC_PATH}`) || pathname.startsWith(`${A2A_REST_PATH}/`);

type A2ARequest = http.IncomingMessage & { a2aUser?: OrganizationUser };

export function createA2AHandler(
  services: ApiServices,
): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> {
  const card = buildAgentCard(services.publicUrl, services.queries);
  const document = agentCardDocument(card);
  const { notifications, limits } = services.a2a;
  const executor = new QueryTaskExecutor({
    pool: services.pool,
    queries: services.queries,
    temporal: services.temporal,
    taskQueue: services.taskQueue,
    notifications,
    logger: services.logger,
    maxPendingTasks: limits.maxPendingTasks,
  });
  const requestHandler = new QueryTaskRequestHandler({
    card,
    pool: services.pool,
    executor,
    temporal: services.temporal,
    notifications,
    limits,
  });
  const userBuilder: UserBuilder = async (req) => (req as A2ARequest).a2aUser ?? new UnauthenticatedUser();
  const app = express();
  app.disable('x-powered-by');
  app.use(A2A_JSONRPC_PATH, jsonRpcHandler({ requestHandler, userBuilder }));
  app.use(A2A_REST_PATH, restHandler({ requestHandler, userBuilder }));

  return async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === A2A_CARD_PATH) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'method not allowed' });
      const headers = { etag: document.etag, 'cache-control': document.cacheControl };
      if (req.headers['if-none-match']?.split(/\s*,\s*/).includes(document.etag)) {
        res.writeHead(304, headers);
        return void res.end();
      }
      res.writeHead(200, { ...headers, 'content-type': 'application/json' });
      return void res.end(req.method === 'HEAD' ? undefined : document.body);
    }
    const flood = floodRefusal(services, req);
    if (flood) {
      const message = `too many credential verifications from this address; retry in ${flood.retryAfterSeconds} s`;
      return sendJson(res, 429, { error: message }, rateLimitHeaders(flood));
    }
    const gate = services.x402?.gate;
    if (gate && !hasCredentials(req.headers) && isPayableA2APath(req.method, path)) {
      return serveX402SendMessage(services, gate, req, res, path);
    }
    const { caller } = await authenticateMcpRequest(services, req, res, { allowAnonymous: false });
    if (caller.kind !== 'organization') return sendJson(res, 401, { error: 'an API key or OAuth token is required' });
    (req as A2ARequest).a2aUser = new OrganizationUser(caller.organizationId, caller.caller);
    await new Promise<void>((resolve) => {
      res.once('close', resolve);
      app(req as ExpressRequest, res as ExpressResponse, () => {
        if (!res.headersSent) sendJson(res, 404, { error: 'not found', path });
        resolve();
      });
    });
  };
}
