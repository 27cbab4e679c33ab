import { describe, expect, it } from 'vitest';
import { mcpEndpoint, readRegistrationFile } from '../../src/queries/registration-file.js';

const json = { name: 'Bob', services: [{ name: 'mcp', endpoint: 'https://bob.example/mcp', version: 2 }, { name: 7 }] };

describe('readRegistrationFile', () => {
  it('reads base64 and percent-encoded data: URIs, keeping only well-formed services', () => {
    const base64 = `data:application/json;base64,${Buffer.from(JSON.stringify(json)).toString('base64')}`;
    const plain = `data:application/json;charset=utf-8,${encodeURIComponent(JSON.stringify(json))}`;
    for (const uri of [base64, plain]) {
      const result = readRegistrationFile(uri);
      expect(result).toMatchObject({
        status: 'parsed',
        file: { name: 'Bob', services: [{ name: 'mcp', endpoint: 'https://bob.example/mcp', version: '2' }] },
      });
      expect(mcpEndpoint(result.status === 'parsed' ? result.file : undefined)).toBe('https://bob.example/mcp');
    }
  });

  it('ignores fields of the wrong type instead of refusing the file', () => {
    const uri = `data:application/json,${encodeURIComponent(JSON.stringify({ name: 3, active: 'yes', supportedTrust: ['tee', 1] }))}`;
    expect(readRegistrationFile(uri)).toMatchObject({
      status: 'parsed',
      file: { name: null, active: null, services: [], supportedTrust: ['tee'] },
    });
  });

  it('never fetches http(s) or ipfs files, and says why', () => {
    for (const uri of ['https://bob.example/agent.json', 'ipfs://QmBob', 'ar://x']) {
      expect(readRegistrationFile(uri)).toMatchObject({
        status: 'not_fetched',
        reason: expect.stringMatching(/not fetched/),
      });
    }
  });

  it('tells an absent URI from a broken data: URI', () => {
    expect(readRegistrationFile(null)).toEqual({ status: 'no_uri' });
    expect(readRegistrationFile('')).toEqual({ status: 'no_uri' });
    expect(readRegistrationFile('data:application/json')).toMatchObject({ status: 'invalid' });
    expect(readRegistrationFile('data:application/json,{not json')).toMatchObject({ status: 'invalid' });
    expect(readRegistrationFile('data:application/json,%5B1%5D')).toMatchObject({ status: 'invalid' });
    expect(readRegistrationFile('data:application/json,%E0%A4%A')).toMatchObject({ status: 'invalid' });
    const notUtf8 = `data:application/json;base64,${Buffer.from([0xff, 0xfe]).toString('base64')}`;
    expect(readRegistrationFile(notUtf8)).toMatchObject({ status: 'invalid' });
  });
});
