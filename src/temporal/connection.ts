import { Client, Connection } from '@temporalio/client';
import type { Logger } from '../logger.js';

export class TemporalUnavailableError extends Error {
  constructor(address: string, timeoutMs: number, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      `Temporal at ${address} did not answer within ${timeoutMs} ms (last error: ${reason}). ` +
        'Check TEMPORAL_ADDRESS, or unset it to let `npm start` run the Temporal dev server.',
    );
    this.name = 'TemporalUnavailableError';
  }
}

/** Connects to the Temporal frontend, retrying until it answers a system-info call or the deadline passes. */
export async function connectTemporal(address: string, timeoutMs: number, logger?: Logger): Promise<Connection> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  let delay = 100;
  while (Date.now() < deadline) {
    try {
      const connection = await Connection.connect({ address, connectTimeout: Math.min(5_000, timeoutMs) });
      await connection.workflowService.getSystemInfo({});
      return connection;
    } catch (err) {
      lastError = err;
      logger?.debug({ err }, 'Temporal not ready yet');
    }
    await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(0, deadline - Date.now()))));
    delay = Math.min(delay * 2, 1_000);
  }
  throw new TemporalUnavailableError(address, timeoutMs, lastError);
}

export function createTemporalClient(connection: Connection, namespace: string): Client {
  return new Client({ connection, namespace });
}
