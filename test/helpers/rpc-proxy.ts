import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RpcProxy {
  url: string;
  /** [fromBlock, toBlock] of every eth_getLogs that went through. */
  logRanges: [number, number][];
  /** Requests whose method is in this set fail with the given JSON-RPC error (simulating a picky provider). */
  failWith: { match: (method: string, params: unknown[]) => boolean; message: string } | undefined;
  stop(): Promise<void>;
}

/**
 * A JSON-RPC pass-through to a real node that can slow every request down (a distant public RPC), record the log
 * ranges asked for, and refuse requests the way providers do.
 */
export async function startRpcProxy(target: string, options: { delayMs?: number } = {}): Promise<RpcProxy> {
  const proxy: RpcProxy = { url: '', logRanges: [], failWith: undefined, stop: async () => {} };
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString();
    const calls = ([] as { id: unknown; method: string; params: unknown[] }[]).concat(JSON.parse(body));
    for (const call of calls) {
      if (call.method === 'eth_getLogs') {
        const [filter] = call.params as [{ fromBlock: string; toBlock: string }];
        proxy.logRanges.push([Number(filter.fromBlock), Number(filter.toBlock)]);
      }
    }
    if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
    const failing = proxy.failWith && calls.find((c) => proxy.failWith!.match(c.method, c.params));
    if (failing) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ jsonrpc: '2.0', id: failing.id, error: { code: -32005, message: proxy.failWith!.message } }),
      );
      return;
    }
    const upstream = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    res.writeHead(upstream.status, { 'content-type': 'application/json' });
    res.end(await upstream.text());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.stop = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return proxy;
}
