import { describe, expect, it } from 'vitest';
import type { Message } from '@a2a-js/sdk';
import { argumentBytes, queryRequestOf } from '../../src/a2a/query-request.js';
import { QueryService } from '../../src/queries/service.js';
import type { Db } from '../../src/db/pool.js';
import { testLogger } from '../helpers/logger.js';

const queries = new QueryService({
  pool: {} as Db,
  logger: testLogger,
  planOf: async () => 'free',
});

function message(...values: unknown[]): Message {
  return {
    messageId: 'm1',
    contextId: '',
    taskId: '',
    role: 1,
    parts: values.map((value) =>
      typeof value === 'string'
        ? { content: { $case: 'text', value }, mediaType: 'text/plain', filename: '', metadata: {} }
        : { content: { $case: 'data', value }, mediaType: 'application/json', filename: '', metadata: {} },
    ),
    metadata: {},
    extensions: [],
    referenceTaskIds: [],
  };
}

describe('queryRequestOf', () => {
  it('takes the tool and its input from the first data part', () => {
    expect(
      queryRequestOf(message('hello', { tool: 'getTrend', chainId: 1, agentId: '4', bucket: 'month' }), queries),
    ).toEqual({ ok: true, tool: 'getTrend', input: { chainId: 1, agentId: '4', bucket: 'month' } });
  });

  it('refuses a message without a data part, an unknown tool and bad arguments, saying why', () => {
    const noData = queryRequestOf(message('what is the reputation of agent 4?'), queries);
    expect(noData).toMatchObject({ ok: false, reason: expect.stringMatching(/needs a data part/) });
    const unknown = queryRequestOf(message({ tool: 'getWeather', chainId: 1, agentId: '4' }), queries);
    expect(unknown).toMatchObject({
      ok: false,
      tool: 'getWeather',
      reason: expect.stringMatching(/getReputationSummary/),
    });
    const bad = queryRequestOf(message({ tool: 'getReputationSummary', chainId: 'x', agentId: '04' }), queries);
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.reason).toMatch(/chainId: .*; agentId: /);
  });
});

describe('argumentBytes', () => {
  it("counts the JSON bytes of the message's data parts only", () => {
    const data = { tool: 'getTrend', note: 'é' };
    expect(argumentBytes(message('a long text part is not counted', data))).toBe(
      Buffer.byteLength(JSON.stringify([data])),
    );
    expect(argumentBytes(undefined)).toBe(2);
  });
});
