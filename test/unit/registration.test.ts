import { keccak256, sha256, toBytes } from 'viem';
import { describe, expect, it, vi } from 'vitest';
import {
  findServiceEndpoint,
  ipfsToGateway,
  loadRegistrationFile,
  RegistrationCache,
  RegistrationFileError,
  verifyFileHash,
  type FetchFileOptions,
  type RegistrationFile,
} from '../../src/actions/registration.js';

const GATEWAY = 'https://gateway.example/ipfs/';

const registration = {
  type: 'https://eips.ethereum.org/EIPS/eip-8004#registration-v1',
  name: 'Weather agent',
  description: 'Forecasts — with ünïcödé',
  services: [
    { name: 'web', endpoint: 'https://weather.example/' },
    { name: 'A2A', endpoint: 'https://weather.example/.well-known/agent-card.json', version: '0.3.0' },
    { name: 'MCP', endpoint: 'https://weather.example/mcp', version: '2025-06-18' },
  ],
  registrations: [{ agentId: 0, agentRegistry: 'eip155:11155111:0x8004A818BFB912233c491871b3d84c89A494BD9e' }],
  supportedTrust: ['reputation'],
};

/** A fetchText that serves a fixed map of URLs and records what was asked. */
function fakeFetch(files: Record<string, { status?: number; body: string }>) {
  const calls: string[] = [];
  const fetchText = vi.fn(async (url: string) => {
    calls.push(url);
    const f = files[url];
    return f ? { status: f.status ?? 200, body: f.body } : { status: 404, body: 'not found' };
  });
  return { fetchText, calls };
}

function opts(files: Record<string, { status?: number; body: string }> = {}): FetchFileOptions & { calls: string[] } {
  const { fetchText, calls } = fakeFetch(files);
  return { ipfsGateway: GATEWAY, fetchText, calls };
}

const base64Uri = (value: unknown) =>
  `data:application/json;base64,${Buffer.from(JSON.stringify(value), 'utf8').toString('base64')}`;
const urlencodedUri = (value: unknown) => `data:application/json,${encodeURIComponent(JSON.stringify(value))}`;

async function rejection(p: Promise<unknown>): Promise<RegistrationFileError> {
  try {
    await p;
  } catch (error) {
    expect(error).toBeInstanceOf(RegistrationFileError);
    return error as RegistrationFileError;
  }
  throw new Error('expected a rejection');
}

describe('loadRegistrationFile — URI schemes', () => {
  it('decodes a base64 data: URI locally (no fetch), keeping non-ASCII text', async () => {
    const o = opts();
    const file = await loadRegistrationFile(base64Uri(registration), o);
    expect(file.name).toBe('Weather agent');
    expect(file.description).toBe('Forecasts — with ünïcödé');
    expect(findServiceEndpoint(file)).toBe('https://weather.example/mcp');
    expect(o.calls).toEqual([]);
  });

  it('decodes a url-encoded data: URI and one with a charset parameter', async () => {
    const o = opts();
    expect((await loadRegistrationFile(urlencodedUri(registration), o)).description).toBe('Forecasts — with ünïcödé');
    const withCharset = `data:application/json;charset=utf-8;base64,${Buffer.from(JSON.stringify(registration)).toString('base64')}`;
    expect((await loadRegistrationFile(withCharset, o)).name).toBe('Weather agent');
    expect(o.calls).toEqual([]);
  });

  it('fetches https:// and http:// through fetchText', async () => {
    const o = opts({
      'https://agent.example/reg.json': { body: JSON.stringify(registration) },
      'http://agent.example/reg.json': { body: JSON.stringify({ name: 'plain' }) },
    });
    expect((await loadRegistrationFile('https://agent.example/reg.json', o)).name).toBe('Weather agent');
    expect((await loadRegistrationFile('http://agent.example/reg.json', o)).name).toBe('plain');
    expect(o.calls).toEqual(['https://agent.example/reg.json', 'http://agent.example/reg.json']);
  });

  it('maps ipfs://CID/path to the gateway', async () => {
    const cid = 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi';
    const o = opts({ [`${GATEWAY}${cid}/agent.json`]: { body: JSON.stringify(registration) } });
    expect((await loadRegistrationFile(`ipfs://${cid}/agent.json`, o)).name).toBe('Weather agent');
    expect(o.calls).toEqual([`${GATEWAY}${cid}/agent.json`]);
    expect(ipfsToGateway(`ipfs://${cid}`, 'https://ipfs.io/ipfs')).toBe(`https://ipfs.io/ipfs/${cid}`);
    expect(ipfsToGateway(`ipfs://ipfs/${cid}/x.json`, 'https://ipfs.io/ipfs/')).toBe(
      `https://ipfs.io/ipfs/${cid}/x.json`,
    );
    await expect(loadRegistrationFile('ipfs://', o)).rejects.toThrow(/invalid ipfs URI/);
  });

  it('normalises ipfs://CID/path and refuses a path that climbs out of the CID, before fetching anything', async () => {
    const cid = 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi';
    expect(ipfsToGateway(`ipfs://${cid}/a/./b/../agent.json`, GATEWAY)).toBe(`${GATEWAY}${cid}/a/agent.json`);
    expect(ipfsToGateway(`ipfs://${cid}/a/%2e%2E/agent.json?x=1`, GATEWAY)).toBe(`${GATEWAY}${cid}/agent.json?x=1`);
    expect(ipfsToGateway(`ipfs://${cid}/a/..`, GATEWAY)).toBe(`${GATEWAY}${cid}/`);
    const escapes = [
      `ipfs://${cid}/../x`,
      `ipfs://${cid}/a/../../x`,
      `ipfs://${cid}/..`,
      `ipfs://${cid}/%2e%2e/x`,
      `ipfs://${cid}/.%2E/x`,
      `ipfs://${cid}/..\\x`,
      `ipfs://${cid}/a%2F..%2F..%2Fx`,
      `ipfs://ipfs/${cid}/../../admin`,
    ];
    for (const uri of escapes) expect(() => ipfsToGateway(uri, GATEWAY), uri).toThrow(/leaves the CID/);
    const o = opts();
    for (const uri of escapes) {
      await expect(loadRegistrationFile(uri, o), uri).rejects.toMatchObject({
        permanent: true,
        message: expect.stringMatching(/leaves the CID/),
      });
      await expect(verifyFileHash(uri, `0x${'00'.repeat(32)}`, o), uri).rejects.toMatchObject({ permanent: true });
    }
    expect(o.calls).toEqual([]);
  });

  it('rejects unsupported schemes with a clear, permanent error', async () => {
    const o = opts();
    for (const uri of [
      'ftp://agent.example/reg.json',
      'ar://abc',
      'file:///etc/passwd',
      'agent.example/reg.json',
      '',
    ]) {
      const error = await rejection(loadRegistrationFile(uri, o));
      expect(error.message).toMatch(/unsupported URI scheme|empty URI/);
      expect(error.permanent).toBe(true);
    }
    await expect(loadRegistrationFile('data:text/html;base64,PGI+aGk8L2I+', o)).rejects.toThrow(
      /media type text\/html/,
    );
    expect(o.calls).toEqual([]);
  });

  it('classifies HTTP failures: 404 permanent, 503 and network errors transient', async () => {
    const o = opts({ 'https://down.example/reg.json': { status: 503, body: 'busy' } });
    const notFound = await rejection(loadRegistrationFile('https://missing.example/reg.json', o));
    expect(notFound).toMatchObject({ permanent: true, status: 404 });
    const down = await rejection(loadRegistrationFile('https://down.example/reg.json', o));
    expect(down).toMatchObject({ permanent: false, status: 503 });
    const broken = await rejection(
      loadRegistrationFile('https://x.example/', {
        ipfsGateway: GATEWAY,
        fetchText: async () => {
          throw new Error('ECONNRESET');
        },
      }),
    );
    expect(broken.permanent).toBe(false);
    expect(broken.message).toMatch(/ECONNRESET/);
  });

  it('enforces maxBytes', async () => {
    const o = {
      ...opts({ 'https://big.example/': { body: JSON.stringify({ name: 'x'.repeat(2_000) }) } }),
      maxBytes: 1_000,
    };
    await expect(loadRegistrationFile('https://big.example/', o)).rejects.toThrow(/too large/);
    await expect(loadRegistrationFile(base64Uri({ name: 'x'.repeat(2_000) }), o)).rejects.toThrow(/too large/);
  });
});

describe('loadRegistrationFile — content', () => {
  it('rejects malformed JSON and non-objects', async () => {
    const o = opts();
    const bad = await rejection(loadRegistrationFile('data:application/json,%7B%22name%22%3A', o));
    expect(bad.message).toMatch(/not valid JSON/);
    expect(bad.permanent).toBe(true);
    await expect(loadRegistrationFile(urlencodedUri([1, 2]), o)).rejects.toThrow(/not a JSON object/);
    await expect(loadRegistrationFile('data:application/json;base64,!!!', o)).rejects.toThrow(/invalid base64/);
  });

  it('rejects wrongly typed core fields', async () => {
    const o = opts();
    await expect(loadRegistrationFile(urlencodedUri({ name: 42 }), o)).rejects.toThrow(
      /invalid registration file: name/,
    );
    await expect(loadRegistrationFile(urlencodedUri({ name: 'a', services: 'https://x' }), o)).rejects.toThrow(
      /services/,
    );
  });

  it('keeps well-formed service entries, drops malformed ones, keeps unknown fields', async () => {
    const file = await loadRegistrationFile(
      urlencodedUri({
        name: 'a',
        x402Support: true,
        services: [
          { name: 'MCP' },
          'nonsense',
          { name: 'mcp', endpoint: 'https://b.example/mcp', version: 2, tools: ['x'] },
        ],
      }),
      opts(),
    );
    expect(file.services).toEqual([{ name: 'mcp', endpoint: 'https://b.example/mcp', version: '2', tools: ['x'] }]);
    expect(file['x402Support']).toBe(true);
    expect(findServiceEndpoint(file, 'MCP')).toBe('https://b.example/mcp');
  });
});

describe('findServiceEndpoint', () => {
  it('finds a service case-insensitively in services', () => {
    const file: RegistrationFile = { services: [{ name: 'Mcp', endpoint: 'https://a.example/mcp' }] };
    expect(findServiceEndpoint(file)).toBe('https://a.example/mcp');
    expect(findServiceEndpoint(file, 'mcp')).toBe('https://a.example/mcp');
    expect(findServiceEndpoint(file, 'A2A')).toBeUndefined();
  });

  it('accepts the legacy endpoints list', async () => {
    const file = await loadRegistrationFile(
      urlencodedUri({
        name: 'old',
        endpoints: [
          { name: 'A2A', endpoint: 'https://old.example/card.json' },
          { name: 'MCP', endpoint: 'https://old.example/mcp', version: '2025-03-26' },
        ],
      }),
      opts(),
    );
    expect(findServiceEndpoint(file)).toBe('https://old.example/mcp');
    expect(findServiceEndpoint(file, 'a2a')).toBe('https://old.example/card.json');
  });

  it('prefers services over endpoints when both exist', () => {
    const file: RegistrationFile = {
      services: [{ name: 'MCP', endpoint: 'https://new.example/mcp' }],
      endpoints: [{ name: 'MCP', endpoint: 'https://old.example/mcp' }],
    };
    expect(findServiceEndpoint(file)).toBe('https://new.example/mcp');
  });

  it('returns undefined when there is no MCP entry (or no list at all)', async () => {
    const file = await loadRegistrationFile(
      urlencodedUri({ name: 'web only', services: [{ name: 'web', endpoint: 'https://w.example' }] }),
      opts(),
    );
    expect(findServiceEndpoint(file)).toBeUndefined();
    expect(findServiceEndpoint({ name: 'nothing' })).toBeUndefined();
  });
});

describe('verifyFileHash', () => {
  const feedback = JSON.stringify({
    agentRegistry: 'eip155:1:0x8004A169FB4a3325136EB29fA0ceB6D2e539a432',
    agentId: 0,
    value: '95',
    valueDecimals: 0,
    note: 'très bien',
  });
  const hash = keccak256(toBytes(feedback));

  it('matches keccak256 of the fetched text, case-insensitively', async () => {
    const o = opts({ 'https://fb.example/1.json': { body: feedback } });
    expect(await verifyFileHash('https://fb.example/1.json', hash, o)).toEqual({ ok: true });
    expect(await verifyFileHash('https://fb.example/1.json', hash.toUpperCase().replace('0X', '0x'), o)).toEqual({
      ok: true,
    });
  });

  it('hashes the exact bytes of data: URIs and ipfs files', async () => {
    const cid = 'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG';
    const o = opts({ [`${GATEWAY}${cid}`]: { body: feedback } });
    expect(await verifyFileHash(`ipfs://${cid}`, hash, o)).toEqual({ ok: true });
    expect(
      await verifyFileHash(`data:application/json;base64,${Buffer.from(feedback).toString('base64')}`, hash, o),
    ).toEqual({ ok: true });
    expect(await verifyFileHash(`data:application/json,${encodeURIComponent(feedback)}`, hash, o)).toEqual({
      ok: true,
    });
  });

  it('reports a mismatch with both hashes', async () => {
    const o = opts({ 'https://fb.example/1.json': { body: `${feedback} ` } });
    const result = await verifyFileHash('https://fb.example/1.json', hash, o);
    expect(result).toEqual({ ok: false, actual: keccak256(toBytes(`${feedback} `)), expected: hash });
  });

  it('does not accept a sha256 of the file (keccak256 only)', async () => {
    const o = opts({ 'https://fb.example/1.json': { body: feedback } });
    const result = await verifyFileHash('https://fb.example/1.json', sha256(toBytes(feedback)), o);
    expect(result.ok).toBe(false);
  });

  it('propagates fetch failures as errors', async () => {
    await expect(verifyFileHash('https://fb.example/missing.json', hash, opts())).rejects.toThrow(/HTTP 404/);
  });
});

describe('RegistrationCache', () => {
  const fileA: RegistrationFile = { name: 'A' };
  const fileB: RegistrationFile = { name: 'B' };

  it('hits for the same URI and misses (dropping the entry) when the URI changed', () => {
    const cache = new RegistrationCache();
    cache.set(1, 0n, 'ipfs://one', fileA);
    expect(cache.get(1, 0n, 'ipfs://one')).toBe(fileA);
    expect(cache.get(1, 0, 'ipfs://one')).toBe(fileA); // agentId 0 is a real agent; bigint and number key alike
    expect(cache.get(2, 0n, 'ipfs://one')).toBeUndefined(); // other chain
    expect(cache.get(1, 0n, 'ipfs://two')).toBeUndefined();
    expect(cache.get(1, 0n, 'ipfs://one')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('invalidate drops the entry', () => {
    const cache = new RegistrationCache();
    cache.set(1, 7n, 'https://a', fileA);
    cache.set(1, 8n, 'https://b', fileB);
    cache.invalidate(1, 7n);
    expect(cache.get(1, 7n, 'https://a')).toBeUndefined();
    expect(cache.get(1, 8n, 'https://b')).toBe(fileB);
  });

  it('expires entries after the TTL (injected clock)', () => {
    let now = 1_000_000;
    const cache = new RegistrationCache({ ttlMs: 10 * 60_000, now: () => now });
    cache.set(1, 1n, 'https://a', fileA);
    now += 10 * 60_000 - 1;
    expect(cache.get(1, 1n, 'https://a')).toBe(fileA);
    now += 1;
    expect(cache.get(1, 1n, 'https://a')).toBeUndefined();
  });

  it('evicts the least recently used entry beyond maxEntries', () => {
    const cache = new RegistrationCache({ maxEntries: 2 });
    cache.set(1, 1n, 'u1', fileA);
    cache.set(1, 2n, 'u2', fileB);
    expect(cache.get(1, 1n, 'u1')).toBe(fileA); // 1 is now most recent
    cache.set(1, 3n, 'u3', fileA);
    expect(cache.size).toBe(2);
    expect(cache.get(1, 2n, 'u2')).toBeUndefined();
    expect(cache.get(1, 1n, 'u1')).toBe(fileA);
    expect(cache.get(1, 3n, 'u3')).toBe(fileA);
  });

  it('getOrLoad loads once for concurrent callers, caches, and reloads for a new URI', async () => {
    const cache = new RegistrationCache();
    const load = vi.fn(async (uri: string): Promise<RegistrationFile> => ({ name: uri }));
    const [a, b] = await Promise.all([cache.getOrLoad(1, 5n, 'u1', load), cache.getOrLoad(1, 5n, 'u1', load)]);
    expect(a).toBe(b);
    expect(await cache.getOrLoad(1, 5n, 'u1', load)).toBe(a);
    expect(load).toHaveBeenCalledTimes(1);
    expect((await cache.getOrLoad(1, 5n, 'u2', load)).name).toBe('u2');
    expect(load).toHaveBeenCalledTimes(2);
  });

  it('getOrLoad does not cache a failure, nor a load that was invalidated meanwhile', async () => {
    const cache = new RegistrationCache();
    await expect(cache.getOrLoad(1, 5n, 'u1', async () => Promise.reject(new Error('down')))).rejects.toThrow('down');
    expect(cache.size).toBe(0);
    let release!: (f: RegistrationFile) => void;
    const pending = cache.getOrLoad(1, 5n, 'u1', () => new Promise<RegistrationFile>((r) => (release = r)));
    cache.invalidate(1, 5n);
    release(fileA);
    expect(await pending).toBe(fileA);
    expect(cache.get(1, 5n, 'u1')).toBeUndefined();
  });
});
