/** The slice of a pino logger the reader and its transports use; a pino `Logger` fits as it is. */
export interface ReaderLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** For callers that do not want reader logs (tests, benchmarks). */
export const silentLogger: ReaderLogger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
