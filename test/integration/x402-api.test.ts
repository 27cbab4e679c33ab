/**
 * x402 on the real API server: a paid REST query endpoint without credentials, paid by the official client
 * (@x402/fetch) with our EIP-3009 token on anvil, verified and settled by the in-process facilitator, answered by the
 * query service with the x402 payer and metered in usage_logs. The tool is a small real one over canonical_events
 * that counts its runs, so "the query ran once" is observable.
 */
import { decodePaymentRequiredHeader, decodePaymentResponseHeader } from '@x402/core/http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { x402Client } from '@x402/core/client';
import type { PaymentRequired } from '@x402/core/types';
import { registerExactEvmScheme } from '@x402/evm/exact/client';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { feedbackCountTool } from '../helpers/query-tools.js';
import { startTestApi, type TestApi } from '../helpers/api.js';
import { startTestChain, type TestChain } from '../helpers/chain.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { feedbackEvent, insertEvent } from '../helpers/fixtures.js';
import { fundedPayer, payingFetch, signedPayment, tokenBalance, x402Env } from '../helpers/x402.js';

const CHAIN = 31337;
const { tool: feedbackCount, counter } = feedbackCountTool();

describe('x402 on the REST query endpoints', () => {
  let db: TestDatabase;
  let chain: TestChain;
  let api: TestApi;
  const payTo = privateKeyToAccount(generatePrivateKey()).address;
  const url = (agentId: string, chainId = CHAIN, query = '') =>
    `${api.server.url}/api/v1/agents/${chainId}/${agentId}/feedbacks${query}`;
  const usage = async () =>
    (
      await db.pool.query<{ payer_address: string; payment_reference: string; surface: string; cost: string }>(
        `SELECT payer_address, payment_reference, surface, cost::text FROM usage_logs WHERE payer_address IS NOT NULL`,
      )
    ).rows;

  beforeAll(async () => {
    [db, chain] = await Promise.all([createTestDatabase(), startTestChain({ paymentToken: true })]);
    api = await startTestApi(db, { env: x402Env(chain, payTo), queryTools: [feedbackCount] });
    await db.pool.query(`INSERT INTO checkpoints (chain_id, last_block_number, last_block_hash) VALUES ($1, 200, $2)`, [
      CHAIN,
      `0x${'ab'.repeat(32)}`,
    ]);
    for (const block of [100, 150, 190]) {
      await insertEvent(db.pool, feedbackEvent({ chain_id: CHAIN, block_number: block, log_index: 0, agent_id: '7' }));
    }
  });
  afterAll(async () => {
    await api?.close();
    await chain?.stop();
    await db?.drop();
  });

  it('answers 402 with the tier price, then the answer with PAYMENT-RESPONSE: money moved exactly, metered', async () => {
    const payer = await fundedPayer(chain, 5_000_000n);
    const unpaid = await fetch(url('7'));
    expect(unpaid.status).toBe(402);
    const required = decodePaymentRequiredHeader(unpaid.headers.get('payment-required')!);
    expect(required.accepts).toEqual([
      expect.objectContaining({ amount: '10000', asset: chain.paymentToken!.address, payTo, network: 'eip155:31337' }),
    ]);
    expect(required.resource.url).toMatch(/\/api\/v1\/agents\/31337\/7\/feedbacks$/);
    expect(counter.runs).toBe(0);

    const paid = await payingFetch(chain, payer.key)(url('7'));
    expect(paid.status).toBe(200);
    const body = (await paid.json()) as { answer: { data: unknown; asOfBlock: number }; billing: unknown };
    expect(body.answer).toMatchObject({ tool: 'getFeedbacks', chainId: CHAIN, agentId: '7', asOfBlock: 200 });
    expect(body.answer.data).toEqual({ count: 3 });
    expect(body.billing).toMatchObject({ price: '0.01', charged: '0.01', balance: null });
    const receipt = decodePaymentResponseHeader(paid.headers.get('payment-response')!);
    expect(receipt).toMatchObject({ success: true, payer: payer.address });
    expect(await tokenBalance(chain, payer.address)).toBe(4_990_000n);
    expect(await tokenBalance(chain, payTo)).toBe(10_000n);
    expect(counter.runs).toBe(1);

    const { rows } = await db.pool.query<{ id: string; status: string }>(
      `SELECT id, status FROM x402_payments WHERE payer = $1`,
      [payer.address.toLowerCase()],
    );
    expect(rows).toEqual([expect.objectContaining({ status: 'settled' })]);
    expect(await usage()).toContainEqual({
      payer_address: payer.address.toLowerCase(),
      payment_reference: rows[0]!.id,
      surface: 'x402',
      cost: '0.01000000',
    });
  });

  it('refuses a replay, and runs one signature sent 5 times at once once', async () => {
    const payer = await fundedPayer(chain, 1_000_000n);
    const signature = await signedPayment(chain, payer.key, url('8'));
    const before = counter.runs; // agent 8 is asked for the first time here: nothing cached
    const responses = await Promise.all(
      Array.from({ length: 5 }, () => fetch(url('8'), { headers: { 'PAYMENT-SIGNATURE': signature } })),
    );
    expect(responses.map((r) => r.status).sort()).toEqual([200, 402, 402, 402, 402]);
    expect(counter.runs - before).toBe(1);
    const replay = await fetch(url('8'), { headers: { 'PAYMENT-SIGNATURE': signature } });
    expect(replay.status).toBe(402);
    expect(decodePaymentRequiredHeader(replay.headers.get('payment-required')!).error).toBe(
      'invalid_exact_evm_nonce_already_used',
    );
    expect(counter.runs - before).toBe(1);
    expect(await tokenBalance(chain, payer.address)).toBe(990_000n);
    expect((await usage()).filter((u) => u.payer_address === payer.address.toLowerCase())).toHaveLength(1);
  });

  it('refuses bad parameters with 400 before asking for any payment', async () => {
    const res = await fetch(url('not-an-id'));
    expect(res.status).toBe(400);
    expect(res.headers.get('payment-required')).toBeNull();
    expect(await res.json()).toMatchObject({ error: 'invalid_input' });
  });

  it('releases the payment when the query is refused after it was claimed (unknown chain): 404, nothing moved', async () => {
    const payer = await fundedPayer(chain, 1_000_000n);
    const signature = await signedPayment(chain, payer.key, url('7', 999));
    const res = await fetch(url('7', 999), { headers: { 'PAYMENT-SIGNATURE': signature } });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('chain 999') });
    expect(
      (await db.pool.query(`SELECT 1 FROM x402_payments WHERE payer = $1`, [payer.address.toLowerCase()])).rowCount,
    ).toBe(0);
    expect(await tokenBalance(chain, payer.address)).toBe(1_000_000n);
  });

  it('leaves requests with credentials to the credits path: no 402, no payment asked, no run', async () => {
    const before = counter.runs;
    const credentials: Record<string, string>[] = [
      { 'X-API-Key': 'not-a-key' },
      { Authorization: 'Bearer not-a-token' },
    ];
    for (const headers of credentials) {
      const res = await fetch(url('7'), { headers });
      // The REST router's answer: 401 for these bad credentials where the tool's route is mounted, 404 where not.
      expect([401, 404]).toContain(res.status);
      expect(await res.json()).toMatchObject({ code: expect.stringMatching(/^(UNAUTHORIZED|NOT_FOUND)$/) });
      expect(res.headers.get('payment-required')).toBeNull();
    }
    expect(counter.runs).toBe(before);
  });
});

describe('x402 on the REST query endpoints, payment network down', () => {
  it('answers 503, not 402, and claims nothing', async () => {
    const [db, chain] = await Promise.all([createTestDatabase(), startTestChain({ paymentToken: true })]);
    const payTo = privateKeyToAccount(generatePrivateKey()).address;
    // A port nothing listens on: the facilitator's RPC.
    const api = await startTestApi(db, {
      env: x402Env(chain, payTo, 'http://127.0.0.1:9'),
      queryTools: [feedbackCount],
    });
    try {
      await db.pool.query(`INSERT INTO checkpoints (chain_id, last_block_number, last_block_hash) VALUES ($1, 5, $2)`, [
        CHAIN,
        `0x${'cd'.repeat(32)}`,
      ]);
      const payer = await fundedPayer(chain, 1_000_000n);
      const before = counter.runs;
      const res = await payingFetch(chain, payer.key)(`${api.server.url}/api/v1/agents/${CHAIN}/7/feedbacks`);
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ error: 'payment_network_unavailable' });
      expect(counter.runs).toBe(before);
      expect((await db.pool.query(`SELECT 1 FROM x402_payments`)).rowCount).toBe(0);
      expect(await tokenBalance(chain, payer.address)).toBe(1_000_000n);
    } finally {
      await api.close();
      await chain.stop();
      await db.drop();
    }
  });
});

describe('x402 with the real query tools', () => {
  it('pays getReputationSummary (tier 1) over REST and over MCP, answering as the credits path does', async () => {
    const [db, chain] = await Promise.all([createTestDatabase(), startTestChain({ paymentToken: true })]);
    const payTo = privateKeyToAccount(generatePrivateKey()).address;
    const api = await startTestApi(db, { env: x402Env(chain, payTo) });
    try {
      await db.pool.query(
        `INSERT INTO checkpoints (chain_id, last_block_number, last_block_hash) VALUES ($1, 200, $2)`,
        [CHAIN, `0x${'ef'.repeat(32)}`],
      );
      await insertEvent(db.pool, feedbackEvent({ chain_id: CHAIN, block_number: 120, log_index: 0, agent_id: '3' }));
      const payer = await fundedPayer(chain, 1_000_000n);
      const res = await payingFetch(chain, payer.key)(`${api.server.url}/api/v1/agents/${CHAIN}/3/summary`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { answer: Record<string, unknown>; billing: Record<string, unknown> };
      expect(body.answer).toMatchObject({ tool: 'getReputationSummary', chainId: CHAIN, agentId: '3', asOfBlock: 200 });
      expect(body.billing).toMatchObject({ price: '0.01', charged: '0.01', balance: null });
      expect(decodePaymentResponseHeader(res.headers.get('payment-response')!).success).toBe(true);
      expect(await tokenBalance(chain, payer.address)).toBe(990_000n);
      // Over MCP without credentials: the terms as a tool error, then the paid call answered with the settlement.
      const mcp = new Client({ name: 'x402-test', version: '1.0.0' });
      await mcp.connect(new StreamableHTTPClientTransport(new URL(`${api.server.url}/mcp`)));
      try {
        const call = { name: 'getReputationSummary', arguments: { chainId: CHAIN, agentId: '3' } };
        const unpaid = await mcp.callTool(call);
        expect(unpaid.isError).toBe(true);
        const terms = JSON.parse((unpaid.content as { text: string }[])[0]!.text) as PaymentRequired;
        expect(terms).toMatchObject({ x402Version: 2, accepts: [{ amount: '10000', payTo }] });
        const x402 = new x402Client();
        registerExactEvmScheme(x402, { signer: privateKeyToAccount(payer.key), networks: ['eip155:31337'] });
        x402.setSpendControls({
          allowedAssets: [
            { network: 'eip155:31337', asset: chain.paymentToken!.address, maxAmountPerPayment: '10000' },
          ],
        });
        const payment = await x402.createPaymentPayload(terms);
        const paid = await mcp.callTool({ ...call, _meta: { 'x402/payment': payment } });
        expect(paid.isError).toBeFalsy();
        expect(paid.structuredContent).toMatchObject({ tool: 'getReputationSummary', agentId: '3' });
        expect(paid._meta?.['x402/payment-response']).toMatchObject({ success: true, payer: payer.address });
        expect(await tokenBalance(chain, payer.address)).toBe(980_000n);
        const replay = await mcp.callTool({ ...call, _meta: { 'x402/payment': payment } });
        expect(replay.isError).toBe(true);
        expect(await tokenBalance(chain, payer.address)).toBe(980_000n);
      } finally {
        await mcp.close();
      }
      // Without x402 in the way, the same path wants credentials.
      const withKey = await fetch(`${api.server.url}/api/v1/agents/${CHAIN}/3/summary`, {
        headers: { 'X-API-Key': 'not-a-key' },
      });
      expect(withKey.status).toBe(401);
    } finally {
      await api.close();
      await chain.stop();
      await db.drop();
    }
  });
});
