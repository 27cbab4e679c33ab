import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../logger.js';
import { checkHealth, type HealthDeps } from './health.js';

export interface ApiServerDeps extends HealthDeps {
  logger: Logger;
}

export interface RunningApiServer {
  server: http.Server;
  url: string;
  stop(): Promise<void>;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown) {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(payload) });
  res.end(payload);
}

/** The single HTTP server of the API process. Later routers (tRPC, REST, MCP, A2A, webhooks) mount here. */
export function createApiHandler(deps: ApiServerDeps): http.RequestListener {
  const log = deps.logger.child({ component: 'api' });
  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    try {
      if (url.pathname === '/health' || url.pathname === '/healthz') {
        if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'method not allowed' });
        const deep = url.searchParams.get('deep') === 'true' || url.searchParams.get('deep') === '1';
        const health = await checkHealth(deps, { deep });
        return sendJson(res, health.status === 'ok' ? 200 : 503, health);
      }
      return sendJson(res, 404, { error: 'not found', path: url.pathname });
    } catch (err) {
      log.error({ err, path: url.pathname }, 'request failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      else res.end();
    }
  };
}

export async function startApiServer(deps: ApiServerDeps, options: { host: string; port: number }): Promise<RunningApiServer> {
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
