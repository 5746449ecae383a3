import pino, { type Logger } from 'pino';

/** Structured JSON logs on stderr; `LOG_LEVEL` sets the level (default info). */
export function createLogger(name: string): Logger {
  return pino({ name, level: process.env.LOG_LEVEL ?? 'info' }, pino.destination(2));
}
