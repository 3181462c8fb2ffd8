import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

/** Structured JSON logs on stdout; level from MERIDIAN_LOG_LEVEL (default info). */
export function createLogger(name: string, options: LoggerOptions = {}): Logger {
  return pino({
    name,
    level: process.env.MERIDIAN_LOG_LEVEL ?? 'info',
    base: { pid: process.pid, program: name },
    timestamp: pino.stdTimeFunctions.isoTime,
    ...options,
  });
}
