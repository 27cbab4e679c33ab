/** The API in tests: real services over a test database and the test Temporal server, callable in-process or over HTTP. */
import { randomBytes, randomUUID } from 'node:crypto';
import type http from 'node:http';
import { Client, Connection } from '@temporalio/client';
import { inject } from 'vitest';
import { ApiKeyCache } from '../../src/auth/api-keys.js';
import { OAuthTokenCache } from '../../src/auth/oauth.js';
import { OrganizationAccessCache } from '../../src/auth/organization-access.js';
import { createTokenSigner } from '../../src/auth/tokens.js';
import { RateLimiter } from '../../src/api/rate-limit.js';
import { startApiServer, type RunningApiServer } from '../../src/api/server.js';
import { appRouter } from '../../src/api/trpc/app-router.js';
import { createApiContext, type ApiServices } from '../../src/api/trpc/context.js';
import { createApiHandlers } from '../../src/api/trpc/handlers.js';
import { createCallerFactory } from '../../src/api/trpc/trpc.js';
import { createTenantPool } from '../../src/db/tenant.js';
import { SecretBox } from '../../src/secrets.js';
import { TriggerService } from '../../src/triggers/service.js';
import { startWorker, type RunningWorker } from '../../src/worker/worker.js';
import { testActionSettings } from './actions.js';
import type { TestDatabase } from './db.js';
import { testLogger } from './logger.js';

const callerFactory = createCallerFactory(appRouter);
export type ApiCaller = ReturnType<typeof callerFactory>;

export interface TestApi {
  services: ApiServices;
  server: RunningApiServer;
  /** An in-process caller with the given headers (as tRPC's createCaller would get them from a request). */
  caller(headers?: Record<string, string>, ip?: string): Promise<ApiCaller>;
  close(): Promise<void>;
}

export async function startTestApi(db: TestDatabase, options: { withWorker?: boolean; taskQueue?: string; secrets?: SecretBox } = {}): Promise<TestApi> {
  const address = inject('temporalAddress');
  const connection = await Connection.connect({ address });
  const temporal = new Client({ connection });
  const taskQueue = options.taskQueue ?? `api-${randomUUID()}`;
  const secrets = options.secrets ?? new SecretBox(randomBytes(32));
  const apiKeys = new ApiKeyCache();
  await apiKeys.listenForRevocations(db.url);
  const oauthTokens = new OAuthTokenCache();
  await oauthTokens.listenForRevocations(db.url);
  const organizationAccess = new OrganizationAccessCache();
  await organizationAccess.listenForRevocations(db.url);
  let worker: RunningWorker | undefined;
  if (options.withWorker) {
    worker = await startWorker({ address, namespace: 'default', taskQueue, pool: db.pool, logger: testLogger, actions: testActionSettings({ secrets }) });
  }
  const tenantPool = createTenantPool(db.url, testLogger, { max: 4 });
  const services: ApiServices = {
    pool: db.pool, tenantPool, logger: testLogger, temporal, taskQueue,
    triggers: new TriggerService({ pool: db.pool, temporal, taskQueue, logger: testLogger, secrets }),
    secrets, tokens: createTokenSigner(randomBytes(32)), apiKeys, oauthTokens, organizationAccess, rateLimiter: new RateLimiter(db.pool),
    siweDomain: 'localhost', siweSecret: randomBytes(32),
  };
  const server = await startApiServer(
    { pool: db.pool, temporal, taskQueue, logger: testLogger, api: createApiHandlers(services, { baseUrl: 'http://127.0.0.1' }), rateLimiter: services.rateLimiter },
    { host: '127.0.0.1', port: 0 },
  );
  return {
    services,
    server,
    caller: async (headers = {}, ip = '127.0.0.1') => {
      const req = { headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])), socket: { remoteAddress: ip } } as unknown as http.IncomingMessage;
      return callerFactory(await createApiContext(services, req, () => undefined));
    },
    close: async () => {
      await server.stop();
      await worker?.stop();
      await apiKeys.close();
      await oauthTokens.close();
      await organizationAccess.close();
      await tenantPool.end();
      await connection.close();
    },
  };
}
