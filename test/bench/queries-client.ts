/**
 * The HTTP client of the queries benchmark (test/bench/queries.ts), in its own process like a real caller. Not a
 * benchmark by itself: the benchmark spawns it with `node --import tsx`.
 *
 * Serial requests over ONE keep-alive connection (node:http Agent, maxSockets 1), shared by every scenario, so that
 * each request meets the same connection state. The parent drives the rounds: each `slice` message asks for requests
 * to one scenario's URLs (taken in turn from `offset`) for `durationMs`, at least `minRequests` of them; latency is
 * request start → end of the response body. Every answer is checked after its timing: the status, and for a query
 * the tool that answered and whether it came from the cache; the first few problems are reported back.
 *
 * IPC: receives SliceCommand, answers SliceResult (or { type: 'error', id, message }). Exits when the parent goes away.
 */
import http from 'node:http';

export interface SliceCommand {
  type: 'slice';
  id: number;
  urls: string[];
  offset: number;
  headers: Record<string, string>;
  durationMs: number;
  minRequests: number;
  /** What every answer must be. */
  expect: { kind: 'health' } | { kind: 'query'; tool: string; cache: 'hit' | 'bypass' };
}

export interface SliceResult {
  type: 'slice-result';
  id: number;
  /** ms, one per request, in order. */
  latencies: number[];
  /** Wrong answers (status, tool, cache), at most a few; `wrong` counts them all. */
  problems: string[];
  wrong: number;
}

export type ClientMessage = SliceResult | { type: 'error'; id: number; message: string };

const agent = new http.Agent({ keepAlive: true, maxSockets: 1, maxFreeSockets: 1 });

function get(url: URL, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { agent, host: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error('request timed out after 30 s')));
  });
}

/** Why an answer is wrong, or undefined. */
function problemWith(expect: SliceCommand['expect'], status: number, body: string): string | undefined {
  if (status !== 200) return `HTTP ${status}: ${body.slice(0, 300)}`;
  let parsed: { status?: string; answer?: { tool?: string }; billing?: { cache?: string } };
  try {
    parsed = JSON.parse(body) as typeof parsed;
  } catch {
    return `not JSON: ${body.slice(0, 300)}`;
  }
  if (expect.kind === 'health') return parsed.status === 'ok' ? undefined : `health ${body.slice(0, 300)}`;
  if (parsed.answer?.tool !== expect.tool) return `answered by ${parsed.answer?.tool ?? '?'}: ${body.slice(0, 300)}`;
  if (parsed.billing?.cache !== expect.cache) return `cache ${parsed.billing?.cache ?? '?'}, not ${expect.cache}`;
  return undefined;
}

async function slice(command: SliceCommand): Promise<SliceResult> {
  const urls = command.urls.map((u) => new URL(u));
  const latencies: number[] = [];
  const problems: string[] = [];
  let wrong = 0;
  const started = performance.now();
  for (let i = 0; i < command.minRequests || performance.now() - started < command.durationMs; i++) {
    const url = urls[(command.offset + i) % urls.length]!;
    const t0 = performance.now();
    const { status, body } = await get(url, command.headers);
    latencies.push(performance.now() - t0);
    const problem = problemWith(command.expect, status, body);
    if (problem) {
      wrong++;
      if (problems.length < 3) problems.push(`${url.pathname}${url.search}: ${problem}`);
    }
  }
  return { type: 'slice-result', id: command.id, latencies, problems, wrong };
}

const send = (message: ClientMessage) => {
  if (process.connected) process.send?.(message);
};

process.on('message', (command: SliceCommand) => {
  slice(command).then(send, (err: unknown) =>
    send({ type: 'error', id: command.id, message: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
  );
});
process.once('disconnect', () => process.exit(0));
