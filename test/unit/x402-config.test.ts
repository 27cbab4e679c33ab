import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { atomicAmount } from '../../src/payments/x402/config.js';

const ASSET = '0x036CbD53842c5426634e7929541eC2318f3dCF7e';
const PAY_TO = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const KEY = `0x${'11'.repeat(32)}`;

describe('atomicAmount', () => {
  it('turns a USDC price into the smallest unit of the asset, exactly', () => {
    expect(atomicAmount('0.001', 6)).toBe(1_000n);
    expect(atomicAmount('0.01', 6)).toBe(10_000n);
    expect(atomicAmount('0.2', 6)).toBe(200_000n);
    expect(atomicAmount('12', 6)).toBe(12_000_000n);
    expect(atomicAmount('0.0010', 6)).toBe(1_000n);
    expect(atomicAmount('0.05', 18)).toBe(50_000_000_000_000_000n);
    expect(atomicAmount('0.123456', 6)).toBe(123_456n);
  });

  it('refuses what the asset cannot represent, and what is no price', () => {
    expect(() => atomicAmount('0.0000001', 6)).toThrow(/more than the asset's 6 decimals/);
    expect(() => atomicAmount('0', 6)).toThrow(/not a positive price/);
    expect(() => atomicAmount('-1', 6)).toThrow(/not a positive price/);
    expect(() => atomicAmount('1e-3', 6)).toThrow(/not a positive price/);
  });
});

describe('x402 configuration', () => {
  it('is off unless X402_ENABLED', () => {
    expect(loadConfig({}).x402).toBeUndefined();
    expect(loadConfig({ X402_NETWORK: 'eip155:8453' }).x402).toBeUndefined();
  });

  it('reads an in-process facilitator, with the defaults of the token domain', () => {
    const config = loadConfig({
      X402_ENABLED: 'true',
      X402_NETWORK: 'eip155:84532',
      X402_ASSET: ASSET.toLowerCase(),
      X402_PAY_TO: PAY_TO,
      X402_FACILITATOR_PRIVATE_KEY: KEY,
      X402_RPC_URL: 'http://127.0.0.1:8545',
    });
    expect(config.x402).toEqual({
      network: 'eip155:84532',
      chainId: 84532,
      asset: { address: ASSET, name: 'USD Coin', version: '2', decimals: 6 },
      payTo: PAY_TO,
      facilitator: { kind: 'local', privateKey: KEY, rpcUrl: 'http://127.0.0.1:8545' },
      maxTimeoutSeconds: 300,
      confirmationTimeoutMs: 60_000,
      reconcileIntervalMs: 30_000,
    });
  });

  it("takes the facilitator's RPC from CHAINS, and a remote facilitator by URL", () => {
    const chains = JSON.stringify([
      { chainId: 84532, rpcUrl: 'http://rpc.example:8545', deployments: [{ registry: 'reputation', address: PAY_TO }] },
    ]);
    const base = { X402_ENABLED: 'true', X402_NETWORK: 'eip155:84532', X402_ASSET: ASSET, X402_PAY_TO: PAY_TO };
    expect(loadConfig({ ...base, CHAINS: chains, X402_FACILITATOR_PRIVATE_KEY: KEY }).x402?.facilitator).toEqual({
      kind: 'local',
      privateKey: KEY,
      rpcUrl: 'http://rpc.example:8545',
    });
    expect(loadConfig({ ...base, X402_FACILITATOR_URL: 'https://x402.org/facilitator' }).x402?.facilitator).toEqual({
      kind: 'remote',
      url: 'https://x402.org/facilitator',
      rpcUrl: undefined,
    });
  });

  it('names everything missing or wrong when enabled', () => {
    let error: unknown;
    try {
      loadConfig({ X402_ENABLED: 'true' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    expect(problems).toContain('X402_NETWORK: required with X402_ENABLED');
    expect(problems).toContain('X402_ASSET: required with X402_ENABLED');
    expect(problems).toContain('X402_PAY_TO: required with X402_ENABLED');
    expect(problems).toContain('X402_FACILITATOR_PRIVATE_KEY: required with X402_ENABLED unless X402_FACILITATOR_URL');
    expect(() => loadConfig({ X402_NETWORK: 'base' })).toThrow(/X402_NETWORK: must be an EVM network in CAIP-2 form/);
    expect(() => loadConfig({ X402_FACILITATOR_PRIVATE_KEY: '0x12' })).toThrow(/X402_FACILITATOR_PRIVATE_KEY: must be/);
    expect(() =>
      loadConfig({
        X402_ENABLED: 'true',
        X402_NETWORK: 'eip155:84532',
        X402_ASSET: ASSET,
        X402_PAY_TO: PAY_TO,
        X402_FACILITATOR_PRIVATE_KEY: KEY,
      }),
    ).toThrow(/X402_RPC_URL: required for the in-process facilitator \(no chain 84532 in CHAINS/);
  });
});
