/**
 * SSRF-safe outgoing HTTP against real local servers (node:http on 127.0.0.1, port 0): refusals on the resolved
 * address, the explicit allow list, address pinning, bounded responses, timeouts, no redirects, Retry-After — and
 * the address classification itself over many IPv4, IPv6 and IPv4-in-IPv6 addresses.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SsrfError,
  isAllowed,
  isForbiddenAddress,
  parseAllowList,
  retryAfterMs,
  safeRequest,
  type ResolvedAddress,
} from '../../src/actions/safe-http.js';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

let server: http.Server;
let port: number;
let base: string;
const seen: Seen[] = [];
const sockets = new Set<import('node:net').Socket>();

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      switch (path) {
        case '/ok':
          res.writeHead(200, { 'content-type': 'application/json', 'x-echo-host': req.headers.host ?? '' });
          res.end(JSON.stringify({ ok: true, method: req.method }));
          return;
        case '/big': {
          // 1 MiB, in 16 KiB chunks.
          res.writeHead(200, { 'content-type': 'text/plain' });
          const chunk = Buffer.alloc(16 * 1024, 'a');
          let sent = 0;
          const pump = () => {
            while (sent < 1024 * 1024) {
              sent += chunk.length;
              if (!res.write(chunk)) return void res.once('drain', pump);
            }
            res.end();
          };
          pump();
          return;
        }
        case '/utf8': {
          // 'é' is two bytes: any odd cut lands inside a character.
          res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
          res.end('é'.repeat(1000));
          return;
        }
        case '/hang':
          return; // never answers
        case '/stall':
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('partial…'); // headers and a little body, then nothing
          return;
        case '/redirect':
          res.writeHead(302, { location: '/ok' });
          res.end('moved');
          return;
        case '/busy':
          res.writeHead(429, { 'retry-after': '7' });
          res.end();
          return;
        case '/fail':
          res.writeHead(503, { 'retry-after': new Date(Date.now() + 120_000).toUTCString() });
          res.end('down');
          return;
        default:
          res.writeHead(404);
          res.end();
      }
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const LOCAL = parseAllowList('127.0.0.1');

/** An injected resolver answering from a table, counting its calls. */
function fakeLookup(table: Record<string, string[]>) {
  const calls: string[] = [];
  const lookup = async (host: string): Promise<ResolvedAddress[]> => {
    calls.push(host);
    const answers = table[host];
    if (!answers) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return answers.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return { lookup, calls };
}

async function refusal(p: Promise<unknown>): Promise<SsrfError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SsrfError);
  return err as SsrfError;
}

describe('safeRequest: refusals', () => {
  it('refuses a loopback address without an allow list, before connecting', async () => {
    const before = seen.length;
    const err = await refusal(safeRequest({ method: 'GET', url: `${base}/ok`, timeoutMs: 2_000 }));
    expect(err.message).toMatch(/127\.0\.0\.1 is a loopback address/);
    expect(err.address).toBe('127.0.0.1');
    expect(seen.length).toBe(before);
  });

  it('refuses localhost resolved by the system resolver', async () => {
    const err = await refusal(safeRequest({ method: 'GET', url: `http://localhost:${port}/ok`, timeoutMs: 2_000 }));
    expect(err.message).toMatch(/localhost resolves to (127\.0\.0\.1|::1), a loopback address/);
  });

  it('refuses IPv6 and IPv4-mapped literals and alternative IPv4 spellings', async () => {
    expect(
      (await refusal(safeRequest({ method: 'GET', url: `http://[::1]:${port}/`, timeoutMs: 2_000 }))).message,
    ).toMatch(/loopback/);
    expect(
      (await refusal(safeRequest({ method: 'GET', url: `http://[::ffff:10.0.0.5]/`, timeoutMs: 2_000 }))).message,
    ).toMatch(/10\.0\.0\.5, a private address/);
    // WHATWG URL parsing turns these into 127.0.0.1 before we look.
    expect(
      (await refusal(safeRequest({ method: 'GET', url: `http://2130706433:${port}/`, timeoutMs: 2_000 }))).message,
    ).toMatch(/loopback/);
    expect(
      (await refusal(safeRequest({ method: 'GET', url: `http://0x7f.1:${port}/`, timeoutMs: 2_000 }))).message,
    ).toMatch(/loopback/);
    expect(
      (await refusal(safeRequest({ method: 'GET', url: 'http://169.254.169.254/latest/meta-data/', timeoutMs: 2_000 })))
        .message,
    ).toMatch(/metadata/);
  });

  it('refuses a host name when any of its addresses is private', async () => {
    const { lookup, calls } = fakeLookup({ 'mixed.example': ['93.184.215.14', '10.0.0.5'] });
    const err = await refusal(
      safeRequest({ method: 'POST', url: 'https://mixed.example/hook', body: '{}', timeoutMs: 2_000, lookup }),
    );
    expect(err.message).toContain('mixed.example resolves to 10.0.0.5, a private address');
    expect(err.host).toBe('mixed.example');
    expect(calls).toEqual(['mixed.example']);
  });

  it('refuses a host resolving to an IPv4-mapped private address or a metadata address', async () => {
    const { lookup } = fakeLookup({
      'mapped.example': ['::ffff:192.168.1.1'],
      'imds.example': ['fd00:ec2::254'],
      'cgnat.example': ['100.64.1.1'],
    });
    expect(
      (await refusal(safeRequest({ method: 'GET', url: 'http://mapped.example/', timeoutMs: 2_000, lookup }))).message,
    ).toMatch(/IPv4-mapped form of 192\.168\.1\.1, a private address/);
    expect(
      (await refusal(safeRequest({ method: 'GET', url: 'http://imds.example/', timeoutMs: 2_000, lookup }))).message,
    ).toMatch(/AWS metadata/);
    expect(
      (await refusal(safeRequest({ method: 'GET', url: 'http://cgnat.example/', timeoutMs: 2_000, lookup }))).message,
    ).toMatch(/carrier-grade NAT/);
  });

  it('refuses URLs with credentials', async () => {
    const err = await refusal(
      safeRequest({ method: 'GET', url: `http://user:pass@127.0.0.1:${port}/ok`, timeoutMs: 2_000, allow: LOCAL }),
    );
    expect(err.message).toMatch(/credentials/);
    expect(
      (
        await refusal(
          safeRequest({ method: 'GET', url: `http://user@127.0.0.1:${port}/ok`, timeoutMs: 2_000, allow: LOCAL }),
        )
      ).message,
    ).toMatch(/credentials/);
  });

  it('refuses schemes other than http and https', async () => {
    expect(
      (await refusal(safeRequest({ method: 'GET', url: 'ftp://ftp.example.com/file', timeoutMs: 2_000 }))).message,
    ).toMatch(/refused ftp:\/\/ URL: only http: and https:/);
    expect(
      (await refusal(safeRequest({ method: 'GET', url: 'file:///etc/passwd', timeoutMs: 2_000 }))).message,
    ).toMatch(/only http: and https:/);
    expect(
      (await refusal(safeRequest({ method: 'GET', url: 'gopher://127.0.0.1:70/', timeoutMs: 2_000, allow: LOCAL })))
        .message,
    ).toMatch(/only http: and https:/);
    expect((await refusal(safeRequest({ method: 'GET', url: 'not a url', timeoutMs: 2_000 }))).message).toMatch(
      /not a valid URL/,
    );
  });

  it('does not let a host-name allow entry cover other hosts', async () => {
    const { lookup } = fakeLookup({ 'evil.test': ['127.0.0.1'] });
    const allow = parseAllowList('receiver.test');
    expect(
      (
        await refusal(
          safeRequest({ method: 'GET', url: `http://evil.test:${port}/ok`, timeoutMs: 2_000, lookup, allow }),
        )
      ).message,
    ).toMatch(/evil\.test resolves to 127\.0\.0\.1, a loopback address/);
  });
});

describe('safeRequest: allowed requests', () => {
  it('reaches 127.0.0.1 when allow-listed, sending method, headers and body', async () => {
    const res = await safeRequest({
      method: 'post',
      url: `${base}/ok?x=1`,
      headers: { 'content-type': 'application/json', 'x-custom': 'yes' },
      body: '{"hello":"wörld"}',
      timeoutMs: 2_000,
      allow: LOCAL,
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ ok: true, method: 'POST' });
    expect(res.truncated).toBe(false);
    expect(res.address).toBe('127.0.0.1');
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.durationMs).toBeGreaterThanOrEqual(0);
    const req = seen.at(-1)!;
    expect(req).toMatchObject({ method: 'POST', url: '/ok?x=1', body: '{"hello":"wörld"}' });
    expect(req.headers['x-custom']).toBe('yes');
    expect(req.headers['content-length']).toBe(String(Buffer.byteLength('{"hello":"wörld"}')));
  });

  it('allows by CIDR block', async () => {
    const res = await safeRequest({
      method: 'GET',
      url: `${base}/ok`,
      timeoutMs: 2_000,
      allow: parseAllowList('10.0.0.0/8, 127.0.0.0/8'),
    });
    expect(res.status).toBe(200);
  });

  it('pins the checked address: the host name is resolved once and the request carries Host: <name>:<port>', async () => {
    const { lookup, calls } = fakeLookup({ 'receiver.test': ['127.0.0.1'] });
    const res = await safeRequest({
      method: 'GET',
      url: `http://receiver.test:${port}/ok`,
      timeoutMs: 2_000,
      lookup,
      allow: parseAllowList('receiver.test'),
    });
    expect(res.status).toBe(200);
    expect(res.address).toBe('127.0.0.1');
    expect(res.headers['x-echo-host']).toBe(`receiver.test:${port}`);
    expect(seen.at(-1)!.headers.host).toBe(`receiver.test:${port}`);
    expect(calls).toEqual(['receiver.test']); // never resolved again by the HTTP stack
  });

  it('pins the address allowed by a CIDR entry too', async () => {
    const { lookup } = fakeLookup({ 'receiver.test': ['127.0.0.1'] });
    const res = await safeRequest({
      method: 'GET',
      url: `http://receiver.test:${port}/ok`,
      timeoutMs: 2_000,
      lookup,
      allow: parseAllowList('127.0.0.0/8'),
    });
    expect(res.headers['x-echo-host']).toBe(`receiver.test:${port}`);
  });

  it('falls back to the next checked address when the first refuses the connection', async () => {
    // Port `port` on 127.0.0.2 has no listener (the server is bound to 127.0.0.1 only).
    const { lookup } = fakeLookup({ 'multi.test': ['127.0.0.2', '127.0.0.1'] });
    const res = await safeRequest({
      method: 'GET',
      url: `http://multi.test:${port}/ok`,
      timeoutMs: 2_000,
      lookup,
      allow: parseAllowList('multi.test'),
    });
    expect(res.status).toBe(200);
    expect(res.address).toBe('127.0.0.1');
  });

  it('returns a 3xx as is, without following it', async () => {
    const before = seen.length;
    const res = await safeRequest({ method: 'GET', url: `${base}/redirect`, timeoutMs: 2_000, allow: LOCAL });
    expect(res.status).toBe(302);
    expect(res.headers.location).toBe('/ok');
    expect(res.body).toBe('moved');
    expect(seen.slice(before).map((s) => s.url)).toEqual(['/redirect']);
  });
});

describe('safeRequest: bounded responses', () => {
  it('keeps at most maxResponseBytes of a 1 MiB body', async () => {
    const res = await safeRequest({
      method: 'GET',
      url: `${base}/big`,
      timeoutMs: 5_000,
      maxResponseBytes: 1_000,
      allow: LOCAL,
    });
    expect(res.status).toBe(200);
    expect(res.truncated).toBe(true);
    expect(res.body.length).toBeLessThanOrEqual(1_000);
    expect(res.body).toBe('a'.repeat(1_000));
  });

  it('keeps 64 KiB by default', async () => {
    const res = await safeRequest({ method: 'GET', url: `${base}/big`, timeoutMs: 5_000, allow: LOCAL });
    expect(res.truncated).toBe(true);
    expect(res.body.length).toBe(64 * 1024);
  });

  it('does not cut a UTF-8 character in half', async () => {
    const res = await safeRequest({
      method: 'GET',
      url: `${base}/utf8`,
      timeoutMs: 2_000,
      maxResponseBytes: 101,
      allow: LOCAL,
    });
    expect(res.truncated).toBe(true);
    expect(res.body).toBe('é'.repeat(50));
    const full = await safeRequest({
      method: 'GET',
      url: `${base}/utf8`,
      timeoutMs: 2_000,
      maxResponseBytes: 2_000,
      allow: LOCAL,
    });
    expect(full).toMatchObject({ truncated: false, body: 'é'.repeat(1000) });
  });
});

describe('safeRequest: failures', () => {
  it('times out when the server never answers', async () => {
    const err = await safeRequest({
      method: 'POST',
      url: `${base}/hang`,
      body: 'x',
      timeoutMs: 300,
      allow: LOCAL,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(SsrfError);
    // The server never answers: only the timeout can end this call.
    expect((err as Error).message).toBe(`POST ${base}/hang: no response within 300 ms`);
  });

  it('times out when the body stalls after the headers', async () => {
    const err = await safeRequest({ method: 'GET', url: `${base}/stall`, timeoutMs: 300, allow: LOCAL }).catch(
      (e: unknown) => e,
    );
    expect((err as Error).message).toMatch(/no response within 300 ms/);
  });

  it('times out when the resolver hangs', async () => {
    const lookup = () => new Promise<ResolvedAddress[]>(() => {});
    const err = await safeRequest({ method: 'GET', url: 'http://slow-dns.test/', timeoutMs: 200, lookup }).catch(
      (e: unknown) => e,
    );
    expect((err as Error).message).toMatch(/no response within 200 ms/);
  });

  it('reports a refused connection as a plain error', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const err = await safeRequest({
      method: 'GET',
      url: `http://127.0.0.1:${closedPort}/`,
      timeoutMs: 2_000,
      allow: LOCAL,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(SsrfError);
    expect((err as Error).message).toMatch(/connection refused \(ECONNREFUSED\)/);
  });

  it('reports an unresolvable host as a plain error', async () => {
    const { lookup } = fakeLookup({});
    const err = await safeRequest({ method: 'GET', url: 'http://nowhere.test/', timeoutMs: 2_000, lookup }).catch(
      (e: unknown) => e,
    );
    expect(err).not.toBeInstanceOf(SsrfError);
    expect((err as Error).message).toMatch(/could not resolve nowhere\.test: host not found \(ENOTFOUND\)/);
  });
});

describe('retryAfterMs', () => {
  const now = Date.UTC(2025, 0, 1, 12, 0, 0);

  it('reads delay-seconds', () => {
    expect(retryAfterMs({ 'retry-after': '120' }, now)).toBe(120_000);
    expect(retryAfterMs({ 'retry-after': '0' }, now)).toBe(0);
    expect(retryAfterMs({ 'Retry-After': ' 5 ' }, now)).toBe(5_000);
  });

  it('reads an HTTP date, past dates giving 0', () => {
    expect(retryAfterMs({ 'retry-after': new Date(now + 30_000).toUTCString() }, now)).toBe(30_000);
    expect(retryAfterMs({ 'retry-after': 'Wed, 01 Jan 2025 12:01:00 GMT' }, now)).toBe(60_000);
    expect(retryAfterMs({ 'retry-after': 'Wed, 01 Jan 2025 11:00:00 GMT' }, now)).toBe(0);
  });

  it('is undefined when absent or unparseable', () => {
    expect(retryAfterMs({}, now)).toBeUndefined();
    expect(retryAfterMs({ 'retry-after': 'soon' }, now)).toBeUndefined();
    expect(retryAfterMs({ 'retry-after': '-5' }, now)).toBeUndefined();
    expect(retryAfterMs({ 'retry-after': '1.5' }, now)).toBeUndefined();
    expect(retryAfterMs({ 'retry-after': '' }, now)).toBeUndefined();
  });

  it('works on real responses', async () => {
    const busy = await safeRequest({ method: 'GET', url: `${base}/busy`, timeoutMs: 2_000, allow: LOCAL });
    expect(busy.status).toBe(429);
    expect(retryAfterMs(busy.headers)).toBe(7_000);
    const fail = await safeRequest({ method: 'GET', url: `${base}/fail`, timeoutMs: 2_000, allow: LOCAL });
    expect(fail.status).toBe(503);
    const wait = retryAfterMs(fail.headers)!;
    expect(wait).toBeGreaterThan(115_000);
    expect(wait).toBeLessThanOrEqual(120_000);
  });
});

describe('parseAllowList', () => {
  it('parses host names, addresses and CIDR blocks', () => {
    const allow = parseAllowList(' localhost, 127.0.0.0/8 ,::1,Receiver.Internal., fd00::/8,,');
    expect([...allow.hosts]).toEqual(['localhost', 'receiver.internal']);
    expect(allow.cidrs.map((c) => [c.family, c.prefix, c.text])).toEqual([
      [4, 8, '127.0.0.0/8'],
      [6, 128, '::1'],
      [6, 8, 'fd00::/8'],
    ]);
  });

  it('is empty for undefined or empty text', () => {
    expect(parseAllowList(undefined)).toEqual({ hosts: new Set(), cidrs: [] });
    expect(parseAllowList('')).toEqual({ hosts: new Set(), cidrs: [] });
  });

  it('rejects invalid entries', () => {
    expect(() => parseAllowList('localhost:3000')).toThrow(/invalid allow-list entry "localhost:3000"/);
    expect(() => parseAllowList('10.0.0.0/33')).toThrow(/invalid allow-list entry/);
    expect(() => parseAllowList('300.1.1.1')).toThrow(/invalid allow-list entry/);
    expect(() => parseAllowList('10.0.0.0/8 192.168.0.0/16')).toThrow(/invalid allow-list entry/);
    expect(() => parseAllowList('http://x')).toThrow(/invalid allow-list entry/);
    expect(() => parseAllowList('*.internal')).toThrow(/invalid allow-list entry/);
  });

  it('matches names, blocks and IPv4-mapped addresses', () => {
    const allow = parseAllowList('receiver.test,127.0.0.0/8,fd00::/8');
    expect(isAllowed(allow, 'RECEIVER.test.', '10.1.2.3')).toBe(true);
    expect(isAllowed(allow, 'other.test', '127.9.9.9')).toBe(true);
    expect(isAllowed(allow, 'other.test', '::ffff:127.0.0.1')).toBe(true);
    expect(isAllowed(allow, 'other.test', 'fd12::1')).toBe(true);
    expect(isAllowed(allow, 'other.test', '10.1.2.3')).toBe(false);
    expect(isAllowed(allow, 'other.test', '::1')).toBe(false);
    expect(isAllowed(undefined, 'receiver.test', '127.0.0.1')).toBe(false);
  });
});

describe('isForbiddenAddress', () => {
  const forbidden: [string, RegExp][] = [
    // IPv4
    ['0.0.0.0', /this network/],
    ['0.255.255.255', /this network/],
    ['10.0.0.5', /^a private address$/],
    ['10.255.255.255', /private/],
    ['100.64.0.1', /carrier-grade NAT/],
    ['100.127.255.255', /carrier-grade NAT/],
    ['127.0.0.1', /^a loopback address$/],
    ['127.255.255.254', /loopback/],
    ['169.254.0.1', /link-local/],
    ['169.254.169.254', /cloud metadata/],
    ['172.16.0.1', /private/],
    ['172.31.255.255', /private/],
    ['192.0.0.8', /IETF protocol/],
    ['192.0.2.1', /documentation/],
    ['192.168.1.1', /private/],
    ['198.18.0.1', /benchmarking/],
    ['198.19.255.255', /benchmarking/],
    ['198.51.100.7', /documentation/],
    ['203.0.113.9', /documentation/],
    ['224.0.0.1', /multicast/],
    ['239.255.255.250', /multicast/],
    ['240.0.0.1', /reserved/],
    ['255.255.255.254', /reserved/],
    ['255.255.255.255', /broadcast/],
    // IPv6
    ['::', /unspecified/],
    ['::1', /loopback/],
    ['0:0:0:0:0:0:0:1', /loopback/],
    ['[::1]', /loopback/],
    ['fc00::1', /unique-local/],
    ['fd12:3456:789a::1', /unique-local/],
    ['fe80::1', /link-local/],
    ['fe80::1%eth0', /link-local/],
    ['febf:ffff::1', /link-local/],
    ['fec0::1', /site-local/],
    ['ff02::1', /multicast/],
    ['ff05::1:3', /multicast/],
    ['64:ff9b::a00:5', /NAT64/],
    ['64:ff9b::8.8.8.8', /NAT64/],
    ['2001:db8::1', /documentation/],
    ['2001:0db8:85a3:0000:0000:8a2e:0370:7334', /documentation/],
    ['fd00:ec2::254', /AWS metadata/],
    ['100::1', /discard/],
    // IPv4 inside IPv6
    ['::ffff:127.0.0.1', /IPv4-mapped form of 127\.0\.0\.1, a loopback address/],
    ['::ffff:7f00:1', /IPv4-mapped form of 127\.0\.0\.1/],
    ['::ffff:10.0.0.5', /IPv4-mapped form of 10\.0\.0\.5, a private address/],
    ['::FFFF:A9FE:A9FE', /169\.254\.169\.254, the cloud metadata/],
    ['0:0:0:0:0:ffff:192.168.0.1', /private/],
    ['::127.0.0.1', /IPv4-compatible form of 127\.0\.0\.1/],
    ['::10.1.1.1', /IPv4-compatible form of 10\.1\.1\.1/],
    ['::ffff:0:10.0.0.1', /IPv4-translated form of 10\.0\.0\.1/],
    ['2002:a00:1::', /6to4 form of 10\.0\.0\.1/],
    ['2002:7f00:1::1', /6to4 form of 127\.0\.0\.1/],
    // Not addresses at all: refused
    ['', /not a valid IP address/],
    ['localhost', /not a valid IP address/],
    ['1.2.3', /not a valid IP address/],
    ['256.1.1.1', /not a valid IP address/],
    ['010.0.0.1', /not a valid IP address/],
    ['1::2::3', /not a valid IP address/],
    ['12345::', /not a valid IP address/],
  ];
  it.each(forbidden)('refuses %s', (ip, reason) => {
    expect(isForbiddenAddress(ip)).toMatch(reason);
  });

  const allowed = [
    '1.1.1.1',
    '8.8.8.8',
    '93.184.215.14',
    '9.255.255.255',
    '11.0.0.0',
    '100.63.255.255',
    '100.128.0.0',
    '126.255.255.255',
    '128.0.0.0',
    '169.253.255.255',
    '169.255.0.0',
    '172.15.255.255',
    '172.32.0.0',
    '192.0.1.1',
    '192.0.3.1',
    '192.167.255.255',
    '192.169.0.0',
    '198.17.255.255',
    '198.20.0.0',
    '198.51.99.1',
    '203.0.112.1',
    '223.255.255.255',
    '2606:4700:4700::1111',
    '2001:4860:4860::8888',
    '2a00:1450:4001:81a::200e',
    '2001:db9::1',
    'fbff::1',
    'fe00::1',
    '2400:cb00::1',
    '::ffff:8.8.8.8',
    '::ffff:93.184.215.14',
    '::ffff:0808:0808',
    '2002:808:808::1',
    '64:ff9a::1',
  ];
  it.each(allowed)('allows %s', (ip) => {
    expect(isForbiddenAddress(ip)).toBeUndefined();
  });
});
