/**
 * The parent side of the benchmarks' worker child processes (worker-child.ts is the child side): spawn the child with
 * its BENCH_* environment, learn when it polls, ask it for stats, notice when it fails or exits, stop it at cleanup.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BenchError, now, sleep } from './common.js';
import type { OnCleanup } from './stack.js';
import type { StatsRequest, WorkerChildMessage } from './worker-child.js';

const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface WorkerProcess<Stats, Ready> {
  pid: number | undefined;
  /** Resolves with the child's 'ready' message once it polls; a BenchError if it fails first or takes longer. */
  ready(timeoutMs: number): Promise<Ready>;
  /** Throws if the child reported an error or exited. */
  check(): void;
  /** The child's measurements (cleared afterwards when `reset`). */
  stats(reset?: boolean): Promise<Stats>;
}

export function spawnWorkerProcess<Stats extends { type: 'stats'; id: number }, Ready extends object = object>(
  script: string,
  env: Record<string, string>,
  onCleanup: OnCleanup,
): WorkerProcess<Stats, Ready> {
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: PROJECT_ROOT,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, ...env },
  });
  let exit: string | undefined;
  let error: string | undefined;
  let readyMessage: Ready | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exit = `worker process exited (code ${code}, signal ${signal})`;
      resolve();
    }),
  );
  onCleanup('worker process', async () => {
    if (exit) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  });
  const pending = new Map<number, (stats: Stats) => void>();
  child.on('message', (raw) => {
    const message = raw as WorkerChildMessage<Stats, Ready>;
    if (message.type === 'ready') readyMessage = message as Ready;
    else if (message.type === 'error') error = (message as { message: string }).message;
    else if (message.type === 'stats') pending.get((message as Stats).id)?.(message as Stats);
  });
  const check = () => {
    if (error) throw new BenchError(error);
    if (exit) throw new BenchError(exit);
  };
  let statsId = 0;
  return {
    pid: child.pid,
    check,
    async ready(timeoutMs) {
      const deadline = now() + timeoutMs;
      while (!readyMessage) {
        check();
        if (now() > deadline)
          throw new BenchError(`the worker process was not polling after ${Math.round(timeoutMs / 1000)} s`);
        await sleep(100);
      }
      return readyMessage;
    },
    async stats(reset = false) {
      check();
      const id = ++statsId;
      const answer = new Promise<Stats>((resolve) => pending.set(id, resolve));
      child.send({ type: 'stats', id, reset } satisfies StatsRequest);
      const stats = await Promise.race([answer, sleep(15_000).then(() => undefined), exited.then(() => undefined)]);
      pending.delete(id);
      if (!stats) {
        check();
        throw new BenchError('the worker process did not answer a stats request within 15 s');
      }
      return stats;
    },
  };
}
