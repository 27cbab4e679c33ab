import { configurePlans } from './billing/plans.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { ChildProcessFile } from './child-processes.js';

export interface ProcessContext {
  config: Config;
  logger: Logger;
  /** Registers a cleanup step; steps run in reverse order of registration on shutdown. */
  onShutdown(name: string, step: () => Promise<void>): void;
  /** Resolves when a shutdown was requested (signal or fatal error). */
  shutdownRequested: Promise<string>;
  /** A component failed for good: logs it and shuts the process down with exit code 1. */
  fail(component: string, err: unknown): void;
  /** Whether failed components are restarted in process (`npm start`'s supervisor) instead of failing the process. */
  restartFailedComponents: boolean;
  /** Records a child process (in the data directory when `recordChildren`), so a next start can stop it if we die. */
  trackChild(name: string, pid: number | undefined, signal?: NodeJS.Signals): void;
}

/**
 * Runs an entry point: parses configuration (a readable message and exit code 1 when it is wrong), creates the
 * logger, and on SIGINT/SIGTERM/SIGHUP runs the registered shutdown steps in reverse order. A second SIGINT or SIGTERM
 * exits at once; a SIGHUP during shutdown (the terminal went away) lets the shutdown finish.
 */
export async function runProcess(
  name: string,
  body: (ctx: ProcessContext) => Promise<void>,
  options: {
    /** A command that ends when its body does (migrate, backfill), not a service. */ oneShot?: boolean;
    /** Restart failed components in process (the `npm start` supervisor); other entry points exit non-zero instead. */
    restartFailedComponents?: boolean;
    /** Record child processes in DATA_DIR and stop those a previous run left behind (the `npm start` supervisor). */
    recordChildren?: boolean;
  } = {},
): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${name}: ${err.message}\nSee README.md (Configuration) and .env.example.\n`);
      process.exit(1);
    }
    throw err;
  }
  // One plan table for every component of the process (rate limits, quotas).
  configurePlans(config.billing.plans);
  const logger = createLogger(config, name, { toStderr: options.oneShot });
  const steps: { name: string; step: () => Promise<void> }[] = [];
  let requestShutdown!: (reason: string) => void;
  const shutdownRequested = new Promise<string>((resolve) => (requestShutdown = resolve));
  let shuttingDown = false;

  const shutdown = async (reason: string, exitCode: number) => {
    if (shuttingDown) return;
    shuttingDown = true;
    requestShutdown(reason);
    logger.info({ reason }, 'shutting down');
    for (const { name: stepName, step } of steps.reverse()) {
      try {
        await step();
        logger.debug({ step: stepName }, 'stopped');
      } catch (err) {
        logger.error({ err, step: stepName }, 'shutdown step failed');
        exitCode = exitCode || 1;
      }
    }
    logger.info('stopped');
    logger.flush?.();
    // Exit with this code whether the loop drains by itself or the timer (left for pino's transport to flush) fires.
    process.exitCode = exitCode;
    setTimeout(() => process.exit(exitCode), 50).unref();
  };

  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (shuttingDown) {
        // Closing the terminal sends SIGHUP right after a Ctrl-C: nobody asked to hurry, and exiting now would orphan
        // the children that run in their own process groups.
        if (signal === 'SIGHUP') return logger.warn({ signal }, 'SIGHUP during shutdown: finishing the shutdown');
        logger.warn({ signal }, 'second signal: exiting without finishing shutdown');
        process.exit(1);
      }
      void shutdown(signal, 0);
    });
  }

  let children: ChildProcessFile | undefined;
  try {
    if (options.recordChildren) {
      children = await ChildProcessFile.claim(config.dataDir, logger);
      // Registered first, so it runs last: once every child is stopped, nothing is left to find.
      steps.push({ name: 'child process file', step: async () => children?.remove() });
    }
    await body({
      config,
      logger,
      onShutdown: (stepName, step) => steps.push({ name: stepName, step }),
      shutdownRequested,
      fail: (component, err) => {
        const message = err instanceof Error ? err.message : String(err);
        logger.fatal({ err, component }, `${component} failed: ${message}`);
        process.stderr.write(`\n${name}: ${component} failed: ${message}\n`);
        void shutdown('fatal error', 1);
      },
      restartFailedComponents: options.restartFailedComponents ?? false,
      trackChild: (childName, pid, signal) => children?.track(childName, pid, signal),
    });
    if (options.oneShot) await shutdown('done', 0);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    logger.fatal({ err }, `${name} failed: ${message}`);
    // Also on stderr in plain words: the structured log may be filtered or piped elsewhere.
    process.stderr.write(`\n${name}: ${message}\n`);
    await shutdown('fatal error', 1);
  }
}
