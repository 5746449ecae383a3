/**
 * An error the service answers with its own status and message. Messages name fields and keys, never a
 * submitted or stored value: a value may be a secret, and error bodies end up in client logs.
 *
 * @example
 * throw new ServiceError(400, 'config key "" has no name once normalized');
 * throw new ServiceError(401, 'authentication required', { 'www-authenticate': 'Bearer realm="config-service"' });
 */
export class ServiceError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    /** Response headers that belong to this answer (`WWW-Authenticate` on a 401). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'ServiceError';
  }
}
