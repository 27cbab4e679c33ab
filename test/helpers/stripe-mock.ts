/**
 * stripe-mock (Stripe's API stand-in: validates parameters against its bundled OpenAPI spec, answers with fixtures,
 * stateless, sends no webhooks) on a free port for the test run. scripts/ensure-stripe-mock.sh provides the binary,
 * building it with Go on first use.
 */
import { spawn } from 'node:child_process';
import { ensureTool } from '../../src/ensure-tool.js';

/** Any sk_test_… key is accepted by stripe-mock. */
export const STRIPE_MOCK_SECRET_KEY = 'sk_test_stripemock';

export async function startStripeMock(): Promise<{ url: string; stop(): Promise<void> }> {
  const binary = await ensureTool('scripts/ensure-stripe-mock.sh', 'stripe-mock');
  // The OS picks both ports (an empty port), so parallel runs never collide; stripe-mock always opens HTTPS as well,
  // which the tests do not use. No strict version check: the SDK sends a newer Stripe-Version than stripe-mock's spec.
  const child = spawn(binary, ['-http-addr', '127.0.0.1:', '-https-addr', '127.0.0.1:'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    process.removeListener('exit', killOnExit);
  };
  let output = '';
  const listening = new Promise<string>((resolve, reject) => {
    // It announces its addresses on stdout and its problems on stderr.
    const read = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
      const address = /Listening for HTTP at address: (\S+)/.exec(output)?.[1];
      if (address) resolve(`http://${address}`);
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    void exited.then(() => reject(new Error(`stripe-mock exited (${child.exitCode}): ${output}`)));
    setTimeout(() => reject(new Error(`stripe-mock did not start within 30 s: ${output}`)), 30_000).unref();
  });
  try {
    const url = await listening;
    const res = await fetch(`${url}/v1/customers`, { headers: { authorization: `Bearer ${STRIPE_MOCK_SECRET_KEY}` } });
    if (!res.ok) throw new Error(`stripe-mock at ${url} answered ${res.status}`);
    return { url, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
