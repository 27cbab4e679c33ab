import pino, { type Logger } from 'pino';
import type { Config } from './config.js';

export type { Logger };

/** One root logger per process; services take a child with their own bindings. */
export function createLogger(config: Pick<Config, 'log'>, name = 'erc8004'): Logger {
  const options: pino.LoggerOptions = { name, level: config.log.level };
  if (config.log.format === 'pretty') {
    return pino({
      ...options,
      transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } },
    });
  }
  return pino(options);
}
