import path from 'node:path';
import { z } from 'zod';
import { ChainConfigError, loadChains, type ChainConfig } from './chain/config.js';
import { parseTrustedProxies, type TrustedProxies } from './api/client-ip.js';
import { apiBaseOf, creditPacksSchema, planPricesSchema, type StripeSettings } from './billing/stripe-config.js';
import { DEFAULT_PLANS, planTableSchema, type PlanTable } from './billing/plans.js';
import { DEFAULT_TIER_PRICES, tierPricesSchema, type TierPrices } from './queries/prices.js';
import { x402EnvFields, x402Settings, type X402Settings } from './payments/x402/config.js';

/**
 * Every environment variable the service reads, parsed once at startup.
 * Keep this list, README.md and .env.example in step: a test checks that they agree.
 */
const port = z.coerce
  .number({ message: 'must be a port number' })
  .int('must be a whole number')
  .min(1, 'must be between 1 and 65535')
  .max(65535, 'must be between 1 and 65535');

const booleanFlag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: "must be 'true' or 'false'" })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const postgresUrl = z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// connection URL');

export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_FORMAT: z.enum(['json', 'pretty']).optional(),
  DATA_DIR: z.string().min(1).default('.data'),

  DATABASE_URL: postgresUrl.optional(),
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(500).default(10),
  EMBEDDED_PG_PORT: port.default(54329),
  DATABASE_READY_TIMEOUT_MS: z.coerce.number().int().min(100).default(30_000),
  MIGRATE_ON_START: booleanFlag.default(true),
  /** Read by migration 0006: 'auto' uses TimescaleDB when the server has it, 'off' never does. */
  TIMESCALEDB: z.enum(['auto', 'off'], { message: "must be 'auto' or 'off'" }).default('auto'),

  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^\s:]+:\d+$/, "must be host:port, e.g. 'localhost:7233'")
    .optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('erc8004'),
  TEMPORAL_CLI: z.string().min(1).optional(),
  TEMPORAL_DEV_PORT: port.default(7233),
  TEMPORAL_UI_PORT: port.default(8233),
  TEMPORAL_READY_TIMEOUT_MS: z.coerce.number().int().min(100).default(60_000),
  // Workflows kept in worker memory (~0.25–0.45 MiB each, measured by bench:triggers); others are replayed from history.
  TEMPORAL_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(1).max(100_000).default(1_000),

  API_HOST: z.string().min(1).default('127.0.0.1'),
  API_PORT: port.default(8080),

  /** Chains to index: inline JSON array (see src/chain/config.ts) or a JSON file. */
  CHAINS: z.string().optional(),
  CHAINS_FILE: z.string().optional(),
  /** auto: `npm start` runs a local anvil chain with our registries and a simulator when no chain is configured. */
  DEMO_MODE: z.enum(['auto', 'on', 'off'], { message: "must be 'auto', 'on' or 'off'" }).default('auto'),
  DEMO_EVENTS_PER_SECOND: z.coerce.number().min(0).max(1_000).default(2),
  DEMO_ANVIL_PORT: port.default(8545),
  /** Bearer token for POST /api/v1/ingest/events (external indexers); unset disables the endpoint. */
  INGEST_API_TOKEN: z.string().min(24, 'must be at least 24 characters').optional(),
  /** Registry events older than this many days of block time are deleted by maintenance; 0 keeps them forever (default). */
  EVENT_RETENTION_DAYS: z.coerce
    .number({ message: 'must be a whole number of days (0 keeps events forever)' })
    .int('must be a whole number of days (0 keeps events forever)')
    .min(0, 'must be 0 (keep forever) or more days')
    .default(0),

  /** 32-byte key (base64 or hex) sealing the secrets we send on; development creates one under DATA_DIR. */
  APP_ENCRYPTION_KEY: z.string().optional(),
  TELEGRAM_API_BASE_URL: z.url({ message: 'must be a URL' }).default('https://api.telegram.org'),
  /** Bot token for Telegram actions that do not carry their own. */
  TELEGRAM_BOT_TOKEN: z.string().optional(),
  /** Hosts, addresses or CIDRs that actions may reach although private (local development, tests). */
  ACTION_ALLOWED_HOSTS: z.string().optional(),
  // Delivery dispatchers per task queue: their pumps make the first attempts in batches (workflows/delivery-dispatcher.ts).
  DELIVERY_DISPATCHERS: z.coerce.number().int().min(1).max(64).default(2),
  IPFS_GATEWAY_URL: z.url({ message: 'must be a URL' }).default('https://ipfs.io/ipfs/'),

  /** HS256 secret of access tokens (at least 32 characters); development derives one from the app key. */
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  /** Public base URL of the API (OpenAPI servers, Sign-In with Ethereum domain). */
  API_PUBLIC_URL: z.url({ message: 'must be a URL' }).optional(),

  /** Mail transport (email verification, invitations): smtp:// or smtps://; unset outside production logs the links. */
  SMTP_URL: z
    .string()
    .regex(/^smtps?:\/\/[^\s]+$/, 'must be an smtp:// or smtps:// URL, e.g. smtps://user:pass@mail.example.com:465')
    .optional(),
  /** Sender of those mails, an address or "Name <address>". */
  MAIL_FROM: z.string().min(3).max(320).default('erc8004-backend <no-reply@localhost>'),
  /** Reverse proxies (addresses or CIDRs, comma-separated) whose X-Forwarded-For gives the client address. */
  TRUST_PROXY: z
    .string()
    .transform((list, ctx) => {
      try {
        return parseTrustedProxies(list);
      } catch (err) {
        ctx.addIssue({
          code: 'custom',
          message: `${(err as Error).message} (expected a comma-separated list of addresses or CIDRs)`,
        });
        return z.NEVER;
      }
    })
    .optional(),

  /** Stripe secret key (sk_…/rk_…); unset turns billing off ("billing is not configured"). */
  STRIPE_SECRET_KEY: z
    .string()
    .regex(/^(sk|rk)_(test|live)_\w+$/, 'must be a Stripe secret or restricted key (sk_test_…, sk_live_…)')
    .optional(),
  /** Signing secret of the webhook endpoint (whsec_…); required with STRIPE_SECRET_KEY. */
  STRIPE_WEBHOOK_SECRET: z
    .string()
    .regex(/^whsec_\w+$/, 'must be a webhook signing secret (whsec_…)')
    .optional(),
  /** Where the Stripe SDK connects (stripe-mock in tests); Stripe's API when unset. */
  STRIPE_API_BASE: z.url({ message: 'must be a URL such as http://127.0.0.1:12111' }).optional(),
  /** Credit packs sold through Checkout: JSON [{ id, name, priceCents, credits }]. */
  BILLING_CREDIT_PACKS: creditPacksSchema.optional(),
  /** Stripe prices of the plans: JSON [{ price, lookupKey?, plan, includedCredits? }]. */
  BILLING_PLAN_PRICES: planPricesSchema.optional(),
  BILLING_SUCCESS_URL: z.url({ message: 'must be a URL' }).optional(),
  BILLING_CANCEL_URL: z.url({ message: 'must be a URL' }).optional(),
  BILLING_PORTAL_RETURN_URL: z.url({ message: 'must be a URL' }).optional(),
  /** Plans' rate limits and quotas: JSON overriding the defaults per plan (src/billing/plans.ts). */
  BILLING_PLANS: planTableSchema.optional(),
  /** Price of a query call per tier, USDC: JSON overriding the defaults, e.g. {"0":"0.002"} (src/queries/prices.ts). */
  QUERY_PRICES: tierPricesSchema.optional(),
  /** A2A: tasks an organization may have submitted or working at once; one more is refused. */
  A2A_MAX_PENDING_TASKS: z.coerce.number().int().min(1).max(100_000).default(20),
  /** A2A: the largest data part (tool and arguments, JSON bytes) a message may carry. */
  A2A_MAX_ARGUMENT_BYTES: z.coerce.number().int().min(256).max(1_048_576).default(16_384),

  /** x402 pay-per-call on the query endpoints (src/payments/x402/config.ts): X402_ENABLED, X402_NETWORK, … */
  ...x402EnvFields,
});

export type Env = z.infer<typeof envSchema>;

export interface Config {
  nodeEnv: Env['NODE_ENV'];
  log: { level: Env['LOG_LEVEL']; format: 'json' | 'pretty' };
  dataDir: string;
  database: {
    /** Absent: the supervisor starts embedded Postgres and fills this in. */
    url: string | undefined;
    poolMax: number;
    embeddedPort: number;
    readyTimeoutMs: number;
    migrateOnStart: boolean;
  };
  temporal: {
    /** Absent: the supervisor starts `temporal server start-dev` and fills this in. */
    address: string | undefined;
    namespace: string;
    taskQueue: string;
    cliPath: string | undefined;
    devPort: number;
    uiPort: number;
    readyTimeoutMs: number;
    maxCachedWorkflows: number;
  };
  api: {
    host: string;
    port: number;
    jwtSecret: string | undefined;
    publicUrl: string | undefined;
    /** Proxies whose X-Forwarded-For is believed; undefined: none (the TCP peer is the client). */
    trustedProxies: TrustedProxies | undefined;
  };
  mail: { smtpUrl: string | undefined; from: string };
  chains: ChainConfig[];
  demo: { mode: 'auto' | 'on' | 'off'; eventsPerSecond: number; anvilPort: number };
  ingestApiToken: string | undefined;
  /** Days of block time that registry events are kept; 0 = forever. */
  eventRetentionDays: number;
  actions: {
    appEncryptionKey: string | undefined;
    telegramBaseUrl: string;
    telegramBotToken: string | undefined;
    allowedHosts: string | undefined;
    /** Delivery dispatcher workflows per task queue. */
    dispatchers: number;
    ipfsGateway: string;
  };
  /** Stripe credit purchases and subscriptions; undefined when STRIPE_SECRET_KEY is unset (billing is off). */
  stripe: StripeSettings | undefined;
  billing: {
    /** What each plan allows: the defaults with BILLING_PLANS applied. */
    plans: PlanTable;
  };
  queries: {
    /** Price of a call per tier (USDC): the defaults with QUERY_PRICES applied. */
    prices: TierPrices;
  };
  a2a: {
    maxPendingTasks: number;
    maxArgumentBytes: number;
  };
  /** x402 pay-per-call for callers without credentials; undefined when X402_ENABLED is not set. */
  x402: X402Settings | undefined;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'it is not set';
  return `got ${JSON.stringify(value)}`;
}

/** Parses the environment; throws a ConfigError that names every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Empty strings mean "not set" so that `FOO=` in a .env file falls back to the default.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const name = issue.path.join('.');
      return `${name}: ${issue.message} (${describeValue(cleaned[String(issue.path[0])])})`;
    });
    throw new ConfigError(problems);
  }
  const e = parsed.data;
  let chains: ChainConfig[];
  try {
    chains = loadChains(e);
  } catch (err) {
    if (err instanceof ChainConfigError) throw new ConfigError([err.message.replace(/\n/g, '\n  ')]);
    throw err;
  }
  const x402 = x402Settings(e, (chainId) => chains.find((c) => c.chainId === chainId)?.rpcUrl);
  if (x402 && 'problems' in x402) throw new ConfigError(x402.problems);
  return {
    nodeEnv: e.NODE_ENV,
    log: { level: e.LOG_LEVEL, format: e.LOG_FORMAT ?? (e.NODE_ENV === 'production' ? 'json' : 'pretty') },
    dataDir: path.resolve(e.DATA_DIR),
    database: {
      url: e.DATABASE_URL,
      poolMax: e.DATABASE_POOL_MAX,
      embeddedPort: e.EMBEDDED_PG_PORT,
      readyTimeoutMs: e.DATABASE_READY_TIMEOUT_MS,
      migrateOnStart: e.MIGRATE_ON_START,
    },
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      taskQueue: e.TEMPORAL_TASK_QUEUE,
      cliPath: e.TEMPORAL_CLI,
      devPort: e.TEMPORAL_DEV_PORT,
      uiPort: e.TEMPORAL_UI_PORT,
      readyTimeoutMs: e.TEMPORAL_READY_TIMEOUT_MS,
      maxCachedWorkflows: e.TEMPORAL_MAX_CACHED_WORKFLOWS,
    },
    api: {
      host: e.API_HOST,
      port: e.API_PORT,
      jwtSecret: e.JWT_SECRET,
      publicUrl: e.API_PUBLIC_URL,
      trustedProxies: e.TRUST_PROXY,
    },
    mail: { smtpUrl: e.SMTP_URL, from: e.MAIL_FROM },
    chains,
    demo: { mode: e.DEMO_MODE, eventsPerSecond: e.DEMO_EVENTS_PER_SECOND, anvilPort: e.DEMO_ANVIL_PORT },
    ingestApiToken: e.INGEST_API_TOKEN,
    eventRetentionDays: e.EVENT_RETENTION_DAYS,
    actions: {
      appEncryptionKey: e.APP_ENCRYPTION_KEY,
      telegramBaseUrl: e.TELEGRAM_API_BASE_URL,
      telegramBotToken: e.TELEGRAM_BOT_TOKEN,
      allowedHosts: e.ACTION_ALLOWED_HOSTS,
      dispatchers: e.DELIVERY_DISPATCHERS,
      ipfsGateway: e.IPFS_GATEWAY_URL,
    },
    billing: { plans: e.BILLING_PLANS ?? DEFAULT_PLANS },
    queries: { prices: e.QUERY_PRICES ?? DEFAULT_TIER_PRICES },
    a2a: { maxPendingTasks: e.A2A_MAX_PENDING_TASKS, maxArgumentBytes: e.A2A_MAX_ARGUMENT_BYTES },
    stripe: stripeSettings(e),
    x402,
  };
}

function stripeSettings(e: Env): StripeSettings | undefined {
  if (!e.STRIPE_SECRET_KEY) return undefined;
  if (!e.STRIPE_WEBHOOK_SECRET) {
    throw new ConfigError([
      'STRIPE_WEBHOOK_SECRET: required with STRIPE_SECRET_KEY (the endpoint signing secret, whsec_…)',
    ]);
  }
  const base = (e.API_PUBLIC_URL ?? `http://${e.API_HOST}:${e.API_PORT}`).replace(/\/$/, '');
  return {
    secretKey: e.STRIPE_SECRET_KEY,
    webhookSecret: e.STRIPE_WEBHOOK_SECRET,
    api: e.STRIPE_API_BASE ? apiBaseOf(new URL(e.STRIPE_API_BASE)) : undefined,
    creditPacks: e.BILLING_CREDIT_PACKS ?? [],
    planPrices: e.BILLING_PLAN_PRICES ?? [],
    successUrl: e.BILLING_SUCCESS_URL ?? `${base}/billing/success?session_id={CHECKOUT_SESSION_ID}`,
    cancelUrl: e.BILLING_CANCEL_URL ?? `${base}/billing/cancelled`,
    portalReturnUrl: e.BILLING_PORTAL_RETURN_URL ?? `${base}/billing`,
  };
}

/** Production entry points need external services; the supervisor is the only one that may start embedded ones. */
export function requireDatabaseUrl(config: Config): string {
  if (!config.database.url) {
    throw new ConfigError(['DATABASE_URL: required for this entry point (use `npm start` for the embedded database)']);
  }
  return config.database.url;
}

export function requireTemporalAddress(config: Config): string {
  if (!config.temporal.address) {
    throw new ConfigError([
      'TEMPORAL_ADDRESS: required for this entry point (use `npm start` for the Temporal dev server)',
    ]);
  }
  return config.temporal.address;
}

/** The API's public base URL: API_PUBLIC_URL, else the address it listens on (links in mails, OpenAPI, MCP). */
export const apiBaseUrl = (api: Pick<Config['api'], 'publicUrl' | 'host' | 'port'>): string =>
  api.publicUrl ?? `http://${api.host}:${api.port}`;
