import { describe, expect, it } from 'vitest';
import { parseTrustedProxies, resolveClientIp } from '../../src/api/client-ip.js';
import { loadConfig } from '../../src/config.js';

describe('client address behind proxies (TRUST_PROXY)', () => {
  const trusted = parseTrustedProxies('10.0.0.0/8, 192.0.2.7, fd00::/8');

  it('without trusted proxies, is the TCP peer whatever X-Forwarded-For says', () => {
    expect(resolveClientIp('203.0.113.5', ['198.51.100.1'], undefined)).toBe('203.0.113.5');
    expect(resolveClientIp('::ffff:203.0.113.5', [], undefined)).toBe('203.0.113.5');
    expect(resolveClientIp(undefined, [], undefined)).toBe('unknown');
  });

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', () => {
    expect(resolveClientIp('203.0.113.5', ['198.51.100.1'], trusted)).toBe('203.0.113.5');
  });

  it('takes the rightmost hop that is not a trusted proxy, never what the client wrote left of it', () => {
    // The client sent "X-Forwarded-For: 1.2.3.4" (spoofed); the proxy 10.0.0.2 appended the real client 198.51.100.1.
    expect(resolveClientIp('10.0.0.2', ['1.2.3.4, 198.51.100.1'], trusted)).toBe('198.51.100.1');
    // Two trusted proxies in a row; headers repeated are read in order.
    expect(resolveClientIp('::ffff:10.0.0.2', ['1.2.3.4', '198.51.100.1, 192.0.2.7'], trusted)).toBe('198.51.100.1');
    expect(resolveClientIp('fd00::1', ['2001:db8::9'], trusted)).toBe('2001:db8::9');
    // Every hop is a trusted proxy: the leftmost one is the best we know.
    expect(resolveClientIp('10.0.0.2', ['10.1.1.1, 10.2.2.2'], trusted)).toBe('10.1.1.1');
    // No header: the proxy itself.
    expect(resolveClientIp('10.0.0.2', [], trusted)).toBe('10.0.0.2');
  });

  it('stops at a hop that is not an address, at the nearest trusted proxy', () => {
    expect(resolveClientIp('10.0.0.2', ['198.51.100.1, garbage, 10.0.0.3'], trusted)).toBe('10.0.0.3');
    expect(resolveClientIp('10.0.0.2', ['unknown'], trusted)).toBe('10.0.0.2');
  });

  it('parses TRUST_PROXY in the configuration and names a bad entry', () => {
    expect(loadConfig({}).api.trustedProxies).toBeUndefined();
    const config = loadConfig({ TRUST_PROXY: '10.0.0.0/8,::1' });
    expect(config.api.trustedProxies!.check('10.9.9.9', 'ipv4')).toBe(true);
    expect(config.api.trustedProxies!.check('11.0.0.1', 'ipv4')).toBe(false);
    expect(() => loadConfig({ TRUST_PROXY: '10.0.0.0/33' })).toThrow(
      /TRUST_PROXY: "10.0.0.0\/33" is not an IP address or CIDR/,
    );
    expect(() => loadConfig({ TRUST_PROXY: 'proxy.internal' })).toThrow(/TRUST_PROXY/);
  });
});
