import pino, { type Logger } from 'pino';
import type { Config } from './config.js';

export type { Logger };

/** One root logger per process; services take a child with their own bindings. */
/** Services log to stdout; command-line tools (`toStderr`) keep stdout for their output. */
export function createLogger(config: Pick<Config, 'log'>, name = 'erc8004', { toStderr = false } = {}): Logger {
  const options: pino.LoggerOptions = { name, level: config.log.level };
  const fd = toStderr ? 2 : 1;
  if (config.log.format === 'pretty') {
    return pino({
      ...options,
      transport: {
        target: 'pino-pretty',
        options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', destination: fd },
      },
    });
  }
  return pino(options, pino.destination(fd));
}
