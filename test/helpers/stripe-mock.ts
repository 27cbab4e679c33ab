/**
 * stripe-mock (Stripe's API stand-in: validates parameters against its bundled OpenAPI spec, answers with fixtures,
 * stateless, sends no webhooks) on a free port for the test run. scripts/ensure-stripe-mock.sh provides the binary,
 * building it with Go on first use.
 */
import { spawn } from 'node:child_process';
import { ensureTool } from '../../src/ensure-tool.js';
import { getFreePort } from './ports.js';

/** Any sk_test_… key is accepted by stripe-mock. */
export const STRIPE_MOCK_SECRET_KEY = 'sk_test_stripemock';

export async function startStripeMock(): Promise<{ url: string; stop(): Promise<void> }> {
  const binary = await ensureTool('scripts/ensure-stripe-mock.sh', 'stripe-mock');
  const port = await getFreePort();
  // HTTP only (no HTTPS listener to collide with another run); no strict version check: the SDK sends a newer
  // Stripe-Version than stripe-mock's spec.
  const child = spawn(binary, ['-http-addr', `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`stripe-mock exited (${child.exitCode}): ${stderr}`);
    try {
      const res = await fetch(`${url}/v1/customers`, {
        headers: { authorization: `Bearer ${STRIPE_MOCK_SECRET_KEY}` },
      });
      if (res.ok) return { url, stop };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`stripe-mock did not answer on ${url} within 30 s: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
