import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { apiBaseUrl, ConfigError, envSchema, loadConfig } from '../../src/config.js';

describe('loadConfig', () => {
  it('applies embedded defaults when nothing is set', () => {
    const config = loadConfig({});
    expect(config.database.url).toBeUndefined();
    expect(config.database.embeddedPort).toBe(54329);
    expect(config.temporal.address).toBeUndefined();
    expect(config.temporal.uiPort).toBe(8233);
    expect(config.temporal.maxCachedWorkflows).toBe(1_000);
    expect(config.actions.dispatchers).toBe(2);
    expect(config.api).toMatchObject({ host: '127.0.0.1', port: 8080 });
    expect(config.database.migrateOnStart).toBe(true);
    expect(config.log.format).toBe('pretty');
    // Registry history is the reputation record: no retention unless an operator asks for it.
    expect(config.eventRetentionDays).toBe(0);
  });

  it('reads the event retention in days, and refuses what is not a whole number of days', () => {
    expect(loadConfig({ EVENT_RETENTION_DAYS: '730' }).eventRetentionDays).toBe(730);
    expect(loadConfig({ EVENT_RETENTION_DAYS: '0' }).eventRetentionDays).toBe(0);
    expect(() => loadConfig({ EVENT_RETENTION_DAYS: '-1' })).toThrow(/EVENT_RETENTION_DAYS/);
    expect(() => loadConfig({ EVENT_RETENTION_DAYS: '1y' })).toThrow(/EVENT_RETENTION_DAYS/);
  });

  it('reads query prices per tier over the defaults, and refuses a bad price or tier by name', () => {
    expect(loadConfig({}).queries.prices).toEqual({ 0: '0.001', 1: '0.01', 2: '0.05', 3: '0.2' });
    expect(loadConfig({ QUERY_PRICES: '{"0":"0.002","3":"0.25"}' }).queries.prices).toEqual({
      0: '0.002',
      1: '0.01',
      2: '0.05',
      3: '0.25',
    });
    expect(() => loadConfig({ QUERY_PRICES: '{"1":"0.0000001"}' })).toThrow(/QUERY_PRICES.*at most 6 decimals/s);
    expect(() => loadConfig({ QUERY_PRICES: '{"1":"0"}' })).toThrow(/QUERY_PRICES.*above zero/s);
    expect(() => loadConfig({ QUERY_PRICES: '{"1":0.01}' })).toThrow(/QUERY_PRICES.*decimal string/s);
    expect(() => loadConfig({ QUERY_PRICES: '{"4":"1"}' })).toThrow(/QUERY_PRICES.*unknown tier "4"/s);
    expect(() => loadConfig({ QUERY_PRICES: 'cheap' })).toThrow(/QUERY_PRICES.*JSON object/s);
  });

  it('reads production settings', () => {
    const config = loadConfig({
      NODE_ENV: 'production',
      DATABASE_URL: 'postgres://u:p@db:5432/erc8004',
      TEMPORAL_ADDRESS: 'temporal:7233',
      API_PORT: '9000',
      MIGRATE_ON_START: 'false',
      TEMPORAL_MAX_CACHED_WORKFLOWS: '300',
      DELIVERY_DISPATCHERS: '16',
    });
    expect(config.temporal.maxCachedWorkflows).toBe(300);
    expect(config.actions.dispatchers).toBe(16);
    expect(() => loadConfig({ DELIVERY_DISPATCHERS: '0' })).toThrow(/DELIVERY_DISPATCHERS/);
    expect(() => loadConfig({ TEMPORAL_MAX_CACHED_WORKFLOWS: '0' })).toThrow(/TEMPORAL_MAX_CACHED_WORKFLOWS/);
    expect(config.database.url).toBe('postgres://u:p@db:5432/erc8004');
    expect(config.temporal.address).toBe('temporal:7233');
    expect(config.api.port).toBe(9000);
    expect(config.database.migrateOnStart).toBe(false);
    expect(config.log.format).toBe('json');
  });

  it('treats empty values as unset', () => {
    expect(loadConfig({ DATABASE_URL: '', API_PORT: '' }).api.port).toBe(8080);
  });

  it('names every bad variable, with what was wrong and what it got', () => {
    let error: unknown;
    try {
      loadConfig({
        API_PORT: 'eighty',
        DATABASE_URL: 'mysql://x',
        TEMPORAL_ADDRESS: 'nohost',
        MIGRATE_ON_START: 'maybe',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message).toMatch(/^Invalid configuration:/);
    expect(message).toContain('API_PORT: must be a port number (got "eighty")');
    expect(message).toContain('DATABASE_URL: must be a postgres:// or postgresql:// connection URL (got "mysql://x")');
    expect(message).toContain('TEMPORAL_ADDRESS: must be host:port');
    expect(message).toContain("MIGRATE_ON_START: must be 'true' or 'false' (got \"maybe\")");
    expect((error as ConfigError).problems).toHaveLength(4);
  });

  it('refuses out-of-range ports', () => {
    expect(() => loadConfig({ EMBEDDED_PG_PORT: '70000' })).toThrow(/EMBEDDED_PG_PORT: must be between 1 and 65535/);
  });
});

describe('configuration documentation', () => {
  const keys = Object.keys(envSchema.shape);
  it.each(['README.md', '.env.example'])('%s documents every environment variable', (file) => {
    const text = readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');
    const missing = keys.filter((key) => !new RegExp(`\\b${key}\\b`).test(text));
    expect(missing, `variables missing from ${file}`).toEqual([]);
  });

  it('.env.example names no variable the service does not read', () => {
    const text = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
    const named = [...text.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]);
    expect(named.filter((n) => !keys.includes(n!))).toEqual([]);
  });
});

describe('apiBaseUrl', () => {
  it('is API_PUBLIC_URL when set, else the address the API listens on', () => {
    expect(apiBaseUrl(loadConfig({ API_PUBLIC_URL: 'https://api.example.com' }).api)).toBe('https://api.example.com');
    expect(apiBaseUrl({ publicUrl: undefined, host: '127.0.0.1', port: 3000 })).toBe('http://127.0.0.1:3000');
  });
});
