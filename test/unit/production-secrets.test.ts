/**
 * APP_ENCRYPTION_KEY and JWT_SECRET are required in production: startup stops with a message naming the variable,
 * instead of generating a key in DATA_DIR or deriving the token secret from it as development does.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { actionSettings } from '../../src/actions/settings.js';
import { createApiServices, type ApiServicesInput } from '../../src/api/services.js';
import { ConfigError, loadConfig } from '../../src/config.js';

// DATA_DIR in a temp folder: should the check ever be skipped, a generated key lands there and not in the checkout.
const production = {
  NODE_ENV: 'production',
  DATABASE_URL: 'postgres://u:p@db:5432/erc8004',
  TEMPORAL_ADDRESS: 'temporal:7233',
  DATA_DIR: path.join(os.tmpdir(), `erc8004-production-secrets-${randomBytes(4).toString('hex')}`),
};

/** The error a promise rejects with (the test fails if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  const result = await promise.then(
    () => undefined,
    (err: Error) => err,
  );
  expect(result, 'expected a rejection').toBeInstanceOf(Error);
  return result!;
}

describe('secrets required in production', () => {
  it('without APP_ENCRYPTION_KEY, the action settings refuse to start and name the variable', async () => {
    const err = await rejection(actionSettings(loadConfig(production)));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain('APP_ENCRYPTION_KEY: required in production');
    // With the key, the same configuration starts.
    const settings = await actionSettings(
      loadConfig({ ...production, APP_ENCRYPTION_KEY: randomBytes(32).toString('hex') }),
    );
    expect(settings.appKey).toHaveLength(32);
  });

  it('without JWT_SECRET, the API refuses to start and names the variable, before it connects to anything', async () => {
    const config = loadConfig({ ...production, APP_ENCRYPTION_KEY: randomBytes(32).toString('hex') });
    // Nothing here is usable: reaching for the database or Temporal would fail with another error than the one expected.
    const input = {
      config,
      pool: undefined,
      databaseUrl: 'postgres://nobody@127.0.0.1:1/none',
      temporal: undefined,
      logger: undefined,
      secrets: undefined,
      appKey: randomBytes(32),
    };
    const err = await rejection(createApiServices(input as unknown as ApiServicesInput));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain('JWT_SECRET: required in production');
  });
});
