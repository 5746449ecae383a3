/**
 * An error the service answers with its own status and message. Messages name fields and keys, never a
 * submitted or stored value: a value may be a secret, and error bodies end up in client logs.
 *
 * @example
 * throw new ServiceError(400, 'config key "" has no name once normalized');
 */
export class ServiceError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'ServiceError';
  }
}
