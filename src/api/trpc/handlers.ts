/** tRPC at /trpc and REST (OpenAPI) at /api/v1 over the same router and the same context. */
import type http from 'node:http';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { createOpenApiHttpHandler, generateOpenApiDocument } from 'trpc-to-openapi';
import { appRouter } from './app-router.js';
import { createApiContext, type ApiServices } from './context.js';

/** Larger inputs are refused with 413 before parsing. */
export const MAX_BODY_BYTES = 1024 * 1024;

export interface ApiHandlers {
  trpc: http.RequestListener;
  rest: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>;
  openApiDocument: () => unknown;
}

export function createApiHandlers(services: ApiServices, options: { baseUrl: string }): ApiHandlers {
  // The REST adapter hands over a fetch Request, which has no peer address: the Node request behind the response has.
  const createContext = ({ req, res }: { req: http.IncomingMessage; res: http.ServerResponse }) =>
    createApiContext(services, (res.req as http.IncomingMessage | undefined) ?? req, (name, value) => {
      if (!res.headersSent) res.setHeader(name, value);
    });
  const onError = ({ error, path }: { error: { code: string; cause?: unknown }; path?: string }) => {
    if (error.code === 'INTERNAL_SERVER_ERROR') services.logger.error({ err: error.cause ?? error, path }, 'API request failed');
  };
  let document: unknown;
  return {
    trpc: createHTTPHandler({ router: appRouter, createContext, basePath: '/trpc/', maxBodySize: MAX_BODY_BYTES, onError }),
    rest: createOpenApiHttpHandler({ router: appRouter, createContext, maxBodySize: MAX_BODY_BYTES, onError }),
    openApiDocument: () =>
      (document ??= generateOpenApiDocument(appRouter, {
        title: 'erc8004-backend API',
        version: '1.0.0',
        description: 'ERC-8004 events, triggers, deliveries and organizations. Authenticate with `Authorization: Bearer <access token | API key>` or `X-API-Key`.',
        baseUrl: `${options.baseUrl}/api/v1`,
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
        },
      })),
  };
}
