import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../logger.js';
import { checkHealth, sharedWorkerCheck, type HealthDeps } from './health.js';
import type { TrustedProxies } from './client-ip.js';
import { HttpError, sendJson } from './http.js';
import { handleIngest } from './ingest.js';
import { handleStripeWebhookRequest, STRIPE_WEBHOOK_PATH } from './stripe-webhook.js';
import type { StripeBilling } from '../billing/stripe.js';
import { createOAuthTokenHandler, OAUTH_TOKEN_PATH } from './oauth-token-endpoint.js';
import { RateLimiter } from '../rate-limit.js';
import { renderMetrics } from './metrics.js';
import type { ApiHandlers } from './trpc/handlers.js';
import { renderDocsPage } from './docs-page.js';
import { VERIFY_EMAIL_PAGE_PATH, verifyEmailPage } from './verify-email-page.js';
import { MCP_HANDLER_PATHS } from '../mcp/handler.js';
import { isA2APath } from '../a2a/handler.js';

export interface ApiServerDeps extends HealthDeps {
  logger: Logger;
  /** Bearer token of the ingestion endpoint; undefined disables it. */
  ingestApiToken?: string;
  /** tRPC (/trpc) and REST (/api/v1) handlers; absent in processes that serve health only. */
  api?: ApiHandlers;
  /** Rate limiter of the OAuth token endpoint (served with `api`); default: one over `pool`. */
  rateLimiter?: RateLimiter;
  /** Proxies whose X-Forwarded-For gives the client address (TRUST_PROXY). */
  trustedProxies?: TrustedProxies;
  /** Stripe checkout and webhooks; undefined when billing is not configured (the webhook answers 503). */
  stripeBilling?: StripeBilling;
}

export interface RunningApiServer {
  server: http.Server;
  url: string;
  stop(): Promise<void>;
}

/** The single HTTP server of the API process. Later routers (tRPC, REST, MCP, A2A, webhooks) mount here. */
export function createApiHandler(deps: ApiServerDeps): http.RequestListener {
  const log = deps.logger.child({ component: 'api' });
  const oauthToken = deps.api
    ? createOAuthTokenHandler({
        pool: deps.pool,
        logger: deps.logger,
        rateLimiter: deps.rateLimiter ?? new RateLimiter(deps.pool),
        trustedProxies: deps.trustedProxies,
      })
    : undefined;
  const workerCheck = sharedWorkerCheck(deps);
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    try {
      if (url.pathname === '/health' || url.pathname === '/healthz') {
        if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'method not allowed' });
        const deep = url.searchParams.get('deep') === 'true' || url.searchParams.get('deep') === '1';
        const health = await checkHealth(deps, { deep, workerCheck });
        return sendJson(res, health.status === 'ok' ? 200 : 503, health);
      }
      if (url.pathname === '/metrics') {
        if (req.method !== 'GET') return sendJson(res, 405, { error: 'method not allowed' });
        const text = await renderMetrics(deps.pool);
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
        return res.end(text);
      }
      if (url.pathname === '/api/v1/ingest/events') {
        if (req.method !== 'POST') return sendJson(res, 405, { error: 'method not allowed' });
        const result = await handleIngest(req, { pool: deps.pool, logger: log, token: deps.ingestApiToken });
        return sendJson(res, result.status, result.body);
      }
      if (url.pathname === STRIPE_WEBHOOK_PATH) {
        const result = await handleStripeWebhookRequest(req, deps.stripeBilling);
        return sendJson(res, result.status, result.body);
      }
      if (oauthToken && url.pathname === OAUTH_TOKEN_PATH) return await oauthToken(req, res);
      if (deps.api) {
        if (url.pathname.startsWith('/trpc/')) return await deps.api.trpc(req, res);
        if (MCP_HANDLER_PATHS.includes(url.pathname)) return await deps.api.mcp(req, res);
        if (isA2APath(url.pathname)) return await deps.api.a2a(req, res);
        if (url.pathname === '/api/v1/openapi.json') return sendJson(res, 200, deps.api.openApiDocument());
        if (url.pathname === VERIFY_EMAIL_PAGE_PATH && (req.method === 'GET' || req.method === 'HEAD')) {
          res.writeHead(200, verifyEmailPage.headers);
          return res.end(verifyEmailPage.html);
        }
        if (url.pathname === '/api/v1/docs' || url.pathname === '/api/docs') {
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
          return res.end(renderDocsPage(deps.api.openApiDocument()));
        }
        if (url.pathname.startsWith('/api/v1/')) {
          // Paid queries without credentials are paid per call with x402 (src/api/x402-queries.ts).
          if (deps.api.x402 && (await deps.api.x402(req, res, url))) return;
          // The REST router is mounted at the root of its own paths.
          req.url = req.url!.slice('/api/v1'.length);
          return await deps.api.rest(req, res);
        }
      }
      return sendJson(res, 404, { error: 'not found', path: url.pathname });
    } catch (err) {
      if (err instanceof HttpError) {
        if (!res.headersSent)
          sendJson(res, err.status, err.body ?? { error: err.message, ...err.details }, err.headers);
        // A refused upload may still be streaming: drop the connection once the answer is out, instead of reading it.
        if (!req.complete) res.once('finish', () => req.destroy());
        return;
      }
      log.error({ err, path: url.pathname }, 'request failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      else res.end();
    }
  };
  // `handle` catches every error itself, so nothing is left to the server's (absent) promise handling.
  return (req, res) => void handle(req, res);
}

export async function startApiServer(
  deps: ApiServerDeps,
  options: { host: string; port: number },
): Promise<RunningApiServer> {
  const server = http.createServer(createApiHandler(deps));
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`;
  deps.logger.child({ component: 'api' }).info({ url }, 'API listening');
  return {
    server,
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
