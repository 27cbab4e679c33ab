/** The API's long-lived services, built once per API process from the configuration. */
import { hkdfSync } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type pg from 'pg';
import type { Config } from '../config.js';
import { apiBaseUrl, ConfigError } from '../config.js';
import type { Logger } from '../logger.js';
import type { SecretBox } from '../secrets.js';
import { ApiKeyCache } from '../auth/api-keys.js';
import { CredentialGuard } from '../auth/credential-guard.js';
import { OAuthTokenCache } from '../auth/oauth.js';
import { OrganizationAccessCache } from '../auth/organization-access.js';
import { PlanCache } from '../organizations/plan-cache.js';
import { createTokenSigner } from '../auth/tokens.js';
import { createTenantPool } from '../db/tenant.js';
import { createMailer } from '../mail/mailer.js';
import { parseAllowList } from '../actions/safe-http.js';
import { TriggerService } from '../triggers/service.js';
import { RateLimiter } from '../rate-limit.js';
import { createStripeBilling } from '../billing/stripe.js';
import { QueryService } from '../queries/service.js';
import { rpcBlockHashLookup } from '../queries/as-of.js';
import { createChainClient } from '../indexer/rpc.js';
import type { QueryTool } from '../queries/tool.js';
import { createX402Service } from '../payments/x402/service.js';
import { x402QueryRoute } from './x402-queries.js';
import type { ApiServices } from './trpc/context.js';
import { TaskNotifications } from '../a2a/task-events.js';
import { AgentService } from '../agents/service.js';

export interface ApiServicesInput {
  config: Config;
  pool: pg.Pool;
  databaseUrl: string;
  temporal: Client;
  logger: Logger;
  secrets: SecretBox;
  /** The app key, from which development derives the token secrets when none are configured. */
  appKey: Buffer;
  /** Retries of a failed Stripe request (the SDK's default when absent; tests use 0). */
  stripeNetworkRetries?: number;
  /** The query tools offered; default: the catalog (src/queries/catalog.ts). */
  queryTools?: readonly QueryTool[];
}

function derive(key: Buffer, label: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', key, Buffer.alloc(0), `erc8004-backend ${label}`, 32));
}

export async function createApiServices(
  input: ApiServicesInput,
): Promise<{ services: ApiServices; close(): Promise<void> }> {
  const { config } = input;
  if (!config.api.jwtSecret && config.nodeEnv === 'production')
    throw new ConfigError(['JWT_SECRET: required in production (at least 32 characters)']);
  const jwtSecret = config.api.jwtSecret
    ? new TextEncoder().encode(config.api.jwtSecret)
    : derive(input.appKey, 'access tokens');
  const mailer = createMailer(config, input.logger);
  const apiKeys = new ApiKeyCache();
  await apiKeys.listenForRevocations(input.databaseUrl);
  const oauthTokens = new OAuthTokenCache();
  const organizationAccess = new OrganizationAccessCache();
  const plans = new PlanCache();
  try {
    await oauthTokens.listenForRevocations(input.databaseUrl);
    await organizationAccess.listenForRevocations(input.databaseUrl);
    await plans.listenForRevocations(input.databaseUrl);
  } catch (err) {
    await Promise.all([apiKeys.close(), oauthTokens.close(), organizationAccess.close(), plans.close()]);
    throw err;
  }
  const a2aNotifications = new TaskNotifications(input.databaseUrl, input.logger);
  try {
    await a2aNotifications.start();
  } catch (err) {
    await Promise.all([apiKeys.close(), oauthTokens.close(), organizationAccess.close(), plans.close()]);
    throw err;
  }
  const tenantPool = createTenantPool(input.databaseUrl, input.logger, { max: config.database.poolMax });
  const publicUrl = apiBaseUrl(config.api);
  const queries = new QueryService({
    pool: input.pool,
    logger: input.logger,
    prices: config.queries.prices,
    planOf: (organizationId) => plans.planOf(input.pool, organizationId),
    lookupBlockHash: rpcBlockHashLookup(config.chains, (rpcUrl) => createChainClient({ rpcUrl })),
    tools: input.queryTools,
  });
  const triggers = new TriggerService({
    pool: input.pool,
    temporal: input.temporal,
    taskQueue: config.temporal.taskQueue,
    logger: input.logger,
    secrets: input.secrets,
    destinations: { allow: parseAllowList(config.actions.allowedHosts) },
  });
  const services: ApiServices = {
    pool: input.pool,
    tenantPool,
    logger: input.logger,
    temporal: input.temporal,
    taskQueue: config.temporal.taskQueue,
    triggers,
    agents: new AgentService({
      pool: input.pool,
      chains: config.chains,
      secrets: input.secrets,
      triggers,
      linkSecret: derive(Buffer.from(jwtSecret), 'agent link challenges'),
      domain: new URL(publicUrl).host,
      logger: input.logger,
    }),
    secrets: input.secrets,
    tokens: createTokenSigner(jwtSecret),
    apiKeys,
    credentialGuard: new CredentialGuard(),
    oauthTokens,
    organizationAccess,
    rateLimiter: new RateLimiter(input.pool),
    plans,
    trustedProxies: config.api.trustedProxies,
    siweDomain: new URL(publicUrl).host,
    siweSecret: derive(Buffer.from(jwtSecret), 'sign-in with ethereum'),
    mailer,
    publicUrl,
    queries,
    x402: config.x402
      ? createX402Service(config.x402, {
          pool: input.pool,
          logger: input.logger,
          priceOf: (tool) => queries.priceOf(tool),
          route: x402QueryRoute(() => queries),
        })
      : undefined,
    a2a: { limits: config.a2a, notifications: a2aNotifications },
    stripeBilling: createStripeBilling(config.stripe, {
      pool: input.pool,
      logger: input.logger,
      maxNetworkRetries: input.stripeNetworkRetries,
    }),
  };
  return {
    services,
    close: async () => {
      mailer.close();
      await Promise.all([
        apiKeys.close(),
        oauthTokens.close(),
        organizationAccess.close(),
        plans.close(),
        tenantPool.end(),
        services.x402?.close(),
        a2aNotifications.close(),
      ]);
    },
  };
}
