/** The API in tests: real services over a test database and the test Temporal server, callable in-process or over HTTP. */
import { randomBytes, randomUUID } from 'node:crypto';
import type http from 'node:http';
import { Client, Connection } from '@temporalio/client';
import { TRPCError } from '@trpc/server';
import { inject } from 'vitest';
import { startApiServer, type RunningApiServer } from '../../src/api/server.js';
import type { StripeBilling } from '../../src/billing/stripe.js';
import { createApiServices } from '../../src/api/services.js';
import { appRouter } from '../../src/api/trpc/app-router.js';
import { createApiContext, type ApiServices } from '../../src/api/trpc/context.js';
import { createApiHandlers } from '../../src/api/trpc/handlers.js';
import { createCallerFactory } from '../../src/api/trpc/trpc.js';
import { loadConfig } from '../../src/config.js';
import type { QueryTool } from '../../src/queries/tool.js';
import { SecretBox } from '../../src/secrets.js';
import { startWorker, type RunningWorker } from '../../src/worker/worker.js';
import { testActionSettings } from './actions.js';
import type { TestDatabase } from './db.js';
import { testLogger } from './logger.js';
import { extract, startMailbox, type Mailbox } from './mail.js';
import { eventually } from './wait.js';

const callerFactory = createCallerFactory(appRouter);
export type ApiCaller = ReturnType<typeof callerFactory>;

export interface TestApi {
  services: ApiServices;
  server: RunningApiServer;
  /** The SMTP server the API sends its mails to (SMTP_URL). */
  mailbox: Mailbox;
  /** Stripe billing, when `env` configures it (STRIPE_SECRET_KEY…; see stripeMockEnv in ./stripe-env.ts). */
  stripeBilling: StripeBilling | undefined;
  /** An in-process caller with the given headers (as tRPC's createCaller would get them from a request). */
  caller(headers?: Record<string, string>, ip?: string): Promise<ApiCaller>;
  close(): Promise<void>;
}

/** `allowedHosts`: the API's ACTION_ALLOWED_HOSTS (default: local receivers, as the test worker allows); `env`: more settings. */
export async function startTestApi(
  db: TestDatabase,
  options: {
    withWorker?: boolean;
    taskQueue?: string;
    secrets?: SecretBox;
    allowedHosts?: string;
    env?: Record<string, string>;
    /** The query tools offered (default: the catalog's). */
    queryTools?: readonly QueryTool[];
  } = {},
): Promise<TestApi> {
  const address = inject('temporalAddress');
  const connection = await Connection.connect({ address });
  const temporal = new Client({ connection });
  const taskQueue = options.taskQueue ?? `api-${randomUUID()}`;
  const secrets = options.secrets ?? new SecretBox(randomBytes(32));
  let worker: RunningWorker | undefined;
  if (options.withWorker) {
    worker = await startWorker({
      address,
      namespace: 'default',
      taskQueue,
      pool: db.pool,
      logger: testLogger,
      actions: testActionSettings({ secrets }),
    });
  }
  // The production wiring (caches listening for revocations, tenant pool, rate limiter), on the test database.
  const mailbox = await startMailbox();
  const config = loadConfig({
    ...options.env,
    DATABASE_URL: db.url,
    TEMPORAL_ADDRESS: address,
    TEMPORAL_TASK_QUEUE: taskQueue,
    SMTP_URL: mailbox.url,
    MAIL_FROM: 'Test <no-reply@example.test>',
    ACTION_ALLOWED_HOSTS: options.allowedHosts ?? '127.0.0.1,localhost,::1',
  });
  const { services, close } = await createApiServices({
    config,
    pool: db.pool,
    databaseUrl: db.url,
    temporal,
    logger: testLogger,
    secrets,
    appKey: randomBytes(32),
    stripeNetworkRetries: 0,
    queryTools: options.queryTools,
  });
  const { stripeBilling } = services;
  const server = await startApiServer(
    {
      pool: db.pool,
      temporal,
      taskQueue,
      logger: testLogger,
      api: createApiHandlers(services, { baseUrl: 'http://127.0.0.1' }),
      rateLimiter: services.rateLimiter,
      trustedProxies: config.api.trustedProxies,
      stripeBilling,
    },
    { host: '127.0.0.1', port: 0 },
  );
  return {
    services,
    server,
    mailbox,
    stripeBilling,
    caller: async (headers = {}, ip = '127.0.0.1') => {
      const req = {
        headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])),
        socket: { remoteAddress: ip },
      } as unknown as http.IncomingMessage;
      return callerFactory(await createApiContext(services, req, () => undefined));
    },
    close: async () => {
      await server.stop();
      await worker?.stop();
      await close();
      await connection.close();
      await mailbox.close();
    },
  };
}

export const VERIFY_TOKEN = /verify-email\?token=(evt_[A-Za-z0-9_-]+)/;
export const INVITATION_TOKEN = /"token": "(inv_[A-Za-z0-9_-]+)"/;

/** Follows the verification link of the `nth` verification mail to `email` (1: the registration's). */
export async function verifyByMail(api: TestApi, email: string, nth = 1): Promise<void> {
  const mails = () => api.mailbox.to(email).filter((m) => m.subject === 'Confirm your email address');
  const mail = (await eventually(mails, (m) => m.length >= nth))[nth - 1]!;
  await (await api.caller({}, '10.250.0.1')).auth.verifyEmail({ token: extract(mail, VERIFY_TOKEN) });
}

/**
 * Makes `invitee` a member the only way there is: the inviter invites their address, the invitee (verified first if
 * need be) takes the token from the mail and accepts while signed in.
 */
export async function joinByInvitation(
  api: TestApi,
  inviter: ApiCaller,
  organizationId: string,
  invitee: { email: string; as: ApiCaller },
  role: 'admin' | 'member' | 'viewer',
): Promise<void> {
  if (!(await invitee.as.auth.me({})).user.emailVerified) await verifyByMail(api, invitee.email);
  const before = api.mailbox.to(invitee.email).length;
  await inviter.organizations.invite({ organizationId, email: invitee.email, role });
  const mail = await api.mailbox.waitFor(invitee.email, before + 1);
  await invitee.as.organizations.acceptInvitation({ token: extract(mail, INVITATION_TOKEN) });
}

/** The tRPC error code a call ends with, or 'OK': for tables of who may call what. */
export async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'OK';
  } catch (err) {
    if (err instanceof TRPCError) return err.code;
    throw err;
  }
}
