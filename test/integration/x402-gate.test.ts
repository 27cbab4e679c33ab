/**
 * The x402 gate on its own, in front of a real HTTP server, with the official client (@x402/fetch), our EIP-3009
 * token on anvil, the in-process facilitator and real Postgres: what is paid, what is refused, what runs once.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  decodePaymentRequiredHeader,
  decodePaymentResponseHeader,
  decodePaymentSignatureHeader,
  encodePaymentSignatureHeader,
} from '@x402/core/http';
import { x402Client } from '@x402/core/client';
import type { PaymentRequired } from '@x402/core/types';
import { registerExactEvmScheme } from '@x402/evm/exact/client';
import { createPublicClient, http as viemHttp, type Address } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFacilitatorClient, paymentNetworkClient } from '../../src/payments/x402/facilitator.js';
import { X402Gate, type X402Payer, type X402Route } from '../../src/payments/x402/gate.js';
import { claimPayment } from '../../src/payments/x402/payments.js';
import { reconcileX402Payments } from '../../src/payments/x402/reconcile.js';
import { x402McpPayPerCall } from '../../src/payments/x402/mcp.js';
import type { X402Settings } from '../../src/payments/x402/config.js';
import { startTestChain, type TestChain } from '../helpers/chain.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { testLogger } from '../helpers/logger.js';
import { startRpcProxy } from '../helpers/rpc-proxy.js';
import {
  FACILITATOR_KEY,
  fundedPayer,
  payingFetch,
  signedPayment,
  tokenBalance,
  x402Settings,
} from '../helpers/x402.js';

const PRICE = '0.01'; // 10_000 units of a 6-decimal token
const PATH = /^\/api\/v1\/agents\/(\d+)\/(\d+)\/summary$/;

interface Served {
  url: string;
  runs: { route: X402Route; payer: X402Payer }[];
  close(): Promise<void>;
}

/** A server with the gate in front of a stand-in query ("summary"); what passes the gate answers `{ credits: true }`. */
/** The gate as the API builds it (in-process facilitator), pricing every call at PRICE; `summary` paths are paid. */
function testGate(db: TestDatabase, settings: X402Settings): X402Gate {
  return new X402Gate({
    pool: db.pool,
    settings,
    facilitator: createFacilitatorClient(settings),
    network: paymentNetworkClient(settings),
    logger: testLogger,
    priceOf: () => PRICE,
    route: (method, url) => {
      const m = method === 'GET' ? PATH.exec(url.pathname) : null;
      return m ? { tool: 'getReputationSummary', input: { chainId: m[1], agentId: m[2] } } : undefined;
    },
  });
}

async function serve(db: TestDatabase, settings: X402Settings, onRun?: () => void): Promise<Served> {
  const gate = testGate(db, settings);
  const runs: Served['runs'] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url!, `http://${req.headers.host}`);
    void gate
      .serve(req, res, url, async (route, payer) => {
        runs.push({ route, payer });
        onRun?.();
        await new Promise((r) => setTimeout(r, 20));
        if (route.input.agentId === '404') throw new Error('no such agent');
        return { answer: { tool: route.tool, agentId: route.input.agentId } };
      })
      .then((served) => {
        if (!served) res.writeHead(200, { 'content-type': 'application/json' }).end('{"credits":true}');
      })
      .catch(() => res.writeHead(500).end('{"error":"query failed"}'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    runs,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function payments(db: TestDatabase) {
  const { rows } = await db.pool.query<{ id: string; status: string; transaction_hash: string | null; payer: string }>(
    `SELECT id, status, transaction_hash, payer FROM x402_payments ORDER BY claimed_at`,
  );
  return rows;
}

describe('x402 gate', () => {
  let db: TestDatabase;
  let chain: TestChain;
  let served: Served;
  const payTo = privateKeyToAccount(generatePrivateKey()).address;

  beforeAll(async () => {
    [db, chain] = await Promise.all([createTestDatabase(), startTestChain({ paymentToken: true })]);
    served = await serve(db, x402Settings(chain, payTo));
  });
  afterAll(async () => {
    await served?.close();
    await chain?.stop();
    await db?.drop();
  });

  it('answers 402 with the v2 PAYMENT-REQUIRED of the tool price, then 200 with PAYMENT-RESPONSE once paid', async () => {
    const payer = await fundedPayer(chain, 10_000_000n);
    const unpaid = await fetch(`${served.url}/api/v1/agents/31337/7/summary`);
    expect(unpaid.status).toBe(402);
    expect(unpaid.headers.get('cache-control')).toBe('no-store');
    const required = decodePaymentRequiredHeader(unpaid.headers.get('payment-required')!);
    expect(required).toMatchObject({
      x402Version: 2,
      resource: { url: `${served.url}/api/v1/agents/31337/7/summary` },
      accepts: [
        {
          scheme: 'exact',
          network: 'eip155:31337',
          amount: '10000',
          asset: chain.paymentToken!.address,
          payTo,
          maxTimeoutSeconds: 300,
          extra: { name: 'USD Coin', version: '2' },
        },
      ],
    });
    expect(served.runs).toHaveLength(0);

    const paid = await payingFetch(chain, payer.key)(`${served.url}/api/v1/agents/31337/7/summary`);
    expect(paid.status).toBe(200);
    expect(await paid.json()).toEqual({ answer: { tool: 'getReputationSummary', agentId: '7' } });
    const receipt = decodePaymentResponseHeader(paid.headers.get('payment-response')!);
    expect(receipt).toMatchObject({ success: true, network: 'eip155:31337', payer: payer.address });
    expect(await tokenBalance(chain, payer.address)).toBe(9_990_000n);
    expect(await tokenBalance(chain, payTo)).toBe(10_000n);
    expect(served.runs).toHaveLength(1);
    expect(served.runs[0]!.payer).toMatchObject({ kind: 'x402', payer: payer.address });
    const [row] = (await payments(db)).filter((p) => p.payer === payer.address.toLowerCase());
    expect(row).toMatchObject({ status: 'settled', transaction_hash: receipt.transaction.toLowerCase() });
    expect(served.runs[0]!.payer.paymentId).toBe(row!.id);
  });

  it('lets requests with credentials through untouched, and paths that are not paid queries', async () => {
    const withKey = await fetch(`${served.url}/api/v1/agents/31337/7/summary`, { headers: { 'X-API-Key': 'k' } });
    expect(withKey.status).toBe(200);
    expect(await withKey.json()).toEqual({ credits: true });
    const bearer = await fetch(`${served.url}/api/v1/agents/31337/7/summary`, {
      headers: { Authorization: 'Bearer t' },
    });
    expect(await bearer.json()).toEqual({ credits: true });
    expect((await fetch(`${served.url}/api/v1/other`)).status).toBe(200);
  });

  it('refuses a replayed payment: 402, the query not run, no money moved', async () => {
    const payer = await fundedPayer(chain, 1_000_000n);
    const url = `${served.url}/api/v1/agents/31337/8/summary`;
    const signature = await signedPayment(chain, payer.key, url);
    const first = await fetch(url, { headers: { 'PAYMENT-SIGNATURE': signature } });
    expect(first.status).toBe(200);
    const runs = served.runs.length;

    const replay = await fetch(url, { headers: { 'PAYMENT-SIGNATURE': signature } });
    expect(replay.status).toBe(402);
    const refusal = decodePaymentRequiredHeader(replay.headers.get('payment-required')!);
    // The token says the nonce is used (read through Multicall3, installed on anvil by the test chain).
    expect(refusal.error).toBe('invalid_exact_evm_nonce_already_used');
    expect(served.runs).toHaveLength(runs);
    expect(await tokenBalance(chain, payer.address)).toBe(990_000n);
  });

  it('runs one signature sent 5 times at once exactly once: one 200, one settlement, duplicates refused', async () => {
    const payer = await fundedPayer(chain, 1_000_000n);
    const url = `${served.url}/api/v1/agents/31337/9/summary`;
    const signature = await signedPayment(chain, payer.key, url);
    const runs = served.runs.length;
    const responses = await Promise.all(
      Array.from({ length: 5 }, () => fetch(url, { headers: { 'PAYMENT-SIGNATURE': signature } })),
    );
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 402, 402, 402, 402]);
    for (const refused of responses.filter((r) => r.status === 402)) {
      expect(decodePaymentRequiredHeader(refused.headers.get('payment-required')!).error).toMatch(
        /duplicate_payment|payment_already_used|nonce_already_used/,
      );
    }
    expect(served.runs.length - runs).toBe(1);
    expect((await payments(db)).filter((p) => p.payer === payer.address.toLowerCase())).toEqual([
      expect.objectContaining({ status: 'settled' }),
    ]);
    expect(await tokenBalance(chain, payer.address)).toBe(990_000n);
  });

  it('refuses a tampered value without running the query or claiming the nonce', async () => {
    const payer = await fundedPayer(chain, 1_000_000n);
    const url = `${served.url}/api/v1/agents/31337/10/summary`;
    const payload = decodePaymentSignatureHeader(await signedPayment(chain, payer.key, url));
    const authorization = (payload.payload as { authorization: { value: string } }).authorization;
    authorization.value = '1';
    const runs = served.runs.length;
    const res = await fetch(url, { headers: { 'PAYMENT-SIGNATURE': encodePaymentSignatureHeader(payload) } });
    expect(res.status).toBe(402);
    expect(decodePaymentRequiredHeader(res.headers.get('payment-required')!).error).toMatch(/signature|value/);
    expect(served.runs).toHaveLength(runs);
    expect((await payments(db)).filter((p) => p.payer === payer.address.toLowerCase())).toEqual([]);
    expect(await tokenBalance(chain, payer.address)).toBe(1_000_000n);
  });

  it('releases the claim when the query fails: nothing settled, the signature usable again', async () => {
    const payer = await fundedPayer(chain, 1_000_000n);
    const url = `${served.url}/api/v1/agents/31337/404/summary`;
    const signature = await signedPayment(chain, payer.key, url);
    expect((await fetch(url, { headers: { 'PAYMENT-SIGNATURE': signature } })).status).toBe(500);
    expect((await payments(db)).filter((p) => p.payer === payer.address.toLowerCase())).toEqual([]);
    expect(await tokenBalance(chain, payer.address)).toBe(1_000_000n);
  });

  it('answers 503, not 402, when the payment network is down, and claims nothing', async () => {
    const proxy = await startRpcProxy(chain.anvil.rpcUrl);
    const settings = x402Settings(chain, payTo, {
      facilitator: { kind: 'local', privateKey: FACILITATOR_KEY, rpcUrl: proxy.url },
    });
    const down = await serve(db, settings);
    try {
      const payer = await fundedPayer(chain, 1_000_000n);
      const url = `${down.url}/api/v1/agents/31337/11/summary`;
      const signature = await signedPayment(chain, payer.key, url);
      await proxy.stop();
      const res = await fetch(url, { headers: { 'PAYMENT-SIGNATURE': signature } });
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ error: 'payment_network_unavailable' });
      expect(down.runs).toHaveLength(0);
      expect((await payments(db)).filter((p) => p.payer === payer.address.toLowerCase())).toEqual([]);
      // Nothing was held: the same signature pays where the network answers.
      const healthy = await fetch(`${served.url}/api/v1/agents/31337/11/summary`, {
        headers: { 'PAYMENT-SIGNATURE': signature },
      });
      expect(healthy.status).toBe(200);
      expect(await tokenBalance(chain, payer.address)).toBe(990_000n);
    } finally {
      await down.close();
    }
  });

  it('holds a payment whose settlement met a network outage: 503, claimed until the chain says what happened', async () => {
    const proxy = await startRpcProxy(chain.anvil.rpcUrl);
    const settings = x402Settings(chain, payTo, {
      facilitator: { kind: 'local', privateKey: FACILITATOR_KEY, rpcUrl: proxy.url },
    });
    // The network goes down while the query runs, after the payment was verified and claimed.
    const down = await serve(db, settings, () => {
      proxy.failWith = { match: () => true, message: 'upstream unavailable' };
    });
    try {
      const payer = await fundedPayer(chain, 1_000_000n);
      const url = `${down.url}/api/v1/agents/31337/14/summary`;
      const res = await payingFetch(chain, payer.key)(url);
      expect(res.status).toBe(503);
      expect(down.runs).toHaveLength(1);
      const mine = async () => (await payments(db)).filter((p) => p.payer === payer.address.toLowerCase());
      expect(await mine()).toEqual([expect.objectContaining({ status: 'claimed', transaction_hash: null })]);
      expect(await tokenBalance(chain, payer.address)).toBe(1_000_000n);
      // Back up: the authorization is unused and still valid, so the reconciler leaves it open (not failed: the
      // payer's signature could still be broadcast), and the payer is not charged.
      proxy.failWith = undefined;
      const network = createPublicClient({ transport: viemHttp(chain.anvil.rpcUrl) });
      const result = await reconcileX402Payments({ pool: db.pool, network, logger: testLogger, staleAfterMs: 0 });
      expect(result.open).toBeGreaterThanOrEqual(1);
      expect(await mine()).toEqual([expect.objectContaining({ status: 'claimed' })]);
    } finally {
      await down.close();
      await proxy.stop();
    }
  });

  it("pays a tool call over MCP through the MCP server's seam: terms, verify and claim, settle, release", async () => {
    const settings = x402Settings(chain, payTo);
    const mcp = x402McpPayPerCall(testGate(db, settings));
    const payer = await fundedPayer(chain, 1_000_000n);
    const call = { tool: { name: 'getReputationSummary' }, resourceUrl: 'http://127.0.0.1/mcp#getReputationSummary' };

    const required = (await mcp.paymentRequired(call)) as unknown as PaymentRequired;
    expect(required).toMatchObject({
      x402Version: 2,
      resource: { url: call.resourceUrl },
      accepts: [{ amount: '10000', network: 'eip155:31337', asset: chain.paymentToken!.address, payTo }],
    });
    const client = new x402Client();
    registerExactEvmScheme(client, { signer: privateKeyToAccount(payer.key), networks: ['eip155:31337'] });
    client.setSpendControls({
      allowedAssets: [{ network: 'eip155:31337', asset: chain.paymentToken!.address, maxAmountPerPayment: '10000' }],
    });
    const payment = await client.createPaymentPayload(required);

    // The query failed: the claim is given up, and the same payment pays the next try.
    const first = await mcp.verify(call, payment);
    if (!first.ok) throw new Error(`refused: ${JSON.stringify(first.refusal)}`);
    expect(await mcp.verify(call, payment)).toMatchObject({
      ok: false,
      refusal: { kind: 'payment_required', paymentRequired: { error: 'duplicate_payment' } },
    });
    await first.release();

    const verified = await mcp.verify(call, payment);
    if (!verified.ok) throw new Error(`refused: ${JSON.stringify(verified.refusal)}`);
    expect(verified.payer).toMatchObject({ kind: 'x402', payer: payer.address });
    expect(await verified.settle()).toMatchObject({
      success: true,
      response: { success: true, network: 'eip155:31337', payer: payer.address },
    });
    expect(await mcp.verify(call, payment)).toMatchObject({
      ok: false,
      refusal: { kind: 'payment_required', paymentRequired: { error: 'invalid_exact_evm_nonce_already_used' } },
    });
    expect(await mcp.verify(call, { not: 'a payment' })).toMatchObject({
      ok: false,
      refusal: { kind: 'payment_required', paymentRequired: { error: 'invalid_payment' } },
    });
    expect(await tokenBalance(chain, payer.address)).toBe(990_000n);
  });

  it('decides a claim left behind (its process died): failed once the authorization expired unused', async () => {
    const payer = privateKeyToAccount(generatePrivateKey()).address;
    const nonce = `0x${'ab'.repeat(32)}`;
    const claim = await claimPayment(db.pool, {
      network: 'eip155:31337',
      asset: chain.paymentToken!.address,
      payer,
      nonce,
      payTo,
      amount: 10_000n,
      validBefore: BigInt(Math.floor(Date.now() / 1000) - 10),
      tool: 'getReputationSummary',
      requestId: 'r-stale',
      signatureHash: 'cd'.repeat(32),
    });
    expect(claim.claimed).toBe(true);
    const network = createPublicClient({ transport: viemHttp(chain.anvil.rpcUrl) });
    const reconcile = (staleAfterMs: number) =>
      reconcileX402Payments({ pool: db.pool, network, logger: testLogger, staleAfterMs });
    // Young claims belong to their request.
    expect(await reconcile(60_000)).toEqual({ settled: 0, failed: 0, open: 0 });
    expect(await reconcile(0)).toMatchObject({ settled: 0, failed: 1 });
    const { rows } = await db.pool.query(`SELECT status, error FROM x402_payments WHERE payer = $1`, [
      payer.toLowerCase(),
    ]);
    expect(rows).toEqual([{ status: 'failed', error: 'authorization expired without being settled' }]);
  });

  it('records a settlement whose receipt does not come in time as pending (202), and reconciles it once mined', async () => {
    const slow = await serve(db, x402Settings(chain, payTo, { confirmationTimeoutMs: 300 }));
    const rpc = createPublicClient({ transport: viemHttp(chain.anvil.rpcUrl) });
    const anvil = (method: string, params: unknown[] = []) =>
      rpc.request({ method: method as never, params: params as never });
    try {
      const payer = await fundedPayer(chain, 1_000_000n);
      const url = `${slow.url}/api/v1/agents/31337/12/summary`;
      const signature = await signedPayment(chain, payer.key, url);
      await anvil('evm_setAutomine', [false]);
      const res = await fetch(url, { headers: { 'PAYMENT-SIGNATURE': signature } });
      expect(res.status).toBe(202);
      const body = (await res.json()) as { error: string; transaction: string; paymentId: string };
      expect(body).toMatchObject({ error: 'settlement_pending' });
      const row = (await payments(db)).find((p) => p.id === body.paymentId);
      expect(row).toMatchObject({ status: 'pending', transaction_hash: body.transaction.toLowerCase() });
      // The same signature again while it is pending: 202 again, not run, not settled a second time.
      const before = slow.runs.length;
      const again = await fetch(url, { headers: { 'PAYMENT-SIGNATURE': signature } });
      expect(again.status).toBe(202);
      expect(await again.json()).toMatchObject({ error: 'settlement_pending', paymentId: body.paymentId });
      expect(slow.runs).toHaveLength(before);

      const network = createPublicClient({ transport: viemHttp(chain.anvil.rpcUrl) });
      expect(await reconcileX402Payments({ pool: db.pool, network, logger: testLogger, staleAfterMs: 60_000 })).toEqual(
        { settled: 0, failed: 0, open: 1 },
      );
      await anvil('evm_mine');
      expect(await reconcileX402Payments({ pool: db.pool, network, logger: testLogger, staleAfterMs: 60_000 })).toEqual(
        { settled: 1, failed: 0, open: 0 },
      );
      expect((await payments(db)).find((p) => p.id === body.paymentId)).toMatchObject({ status: 'settled' });
      expect(await tokenBalance(chain, payer.address)).toBe(990_000n);

      // Paid but not answered: the same signature collects the answer, once, without paying again.
      const runs = slow.runs.length;
      const collected = await fetch(url, { headers: { 'PAYMENT-SIGNATURE': signature } });
      expect(collected.status).toBe(200);
      expect(await collected.json()).toEqual({ answer: { tool: 'getReputationSummary', agentId: '12' } });
      expect(decodePaymentResponseHeader(collected.headers.get('payment-response')!)).toMatchObject({
        success: true,
        transaction: body.transaction,
      });
      expect(slow.runs.length - runs).toBe(1);
      const twice = await fetch(url, { headers: { 'PAYMENT-SIGNATURE': signature } });
      expect(twice.status).toBe(402);
      expect(slow.runs.length - runs).toBe(1);
      expect(await tokenBalance(chain, payer.address)).toBe(990_000n);
      expect(await tokenBalance(chain, payTo as Address)).toBeGreaterThan(0n);
    } finally {
      await anvil('evm_setAutomine', [true]);
      await slow.close();
    }
  });
});
