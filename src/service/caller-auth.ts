import { timingSafeEqual } from 'node:crypto';
import { tokenDigest, type ApiScope, type ServiceApiToken } from '../config/service-api-tokens';
import { ServiceError } from './service-error';

/** Who is calling: the configured token's name (for logs and messages, never the token) and its scopes. */
export interface Caller {
  readonly name: string;
  readonly scopes: ReadonlySet<ApiScope>;
}

const REALM = 'Bearer realm="config-service"';

/** The 401 of RFC 6750: says how to authenticate, never echoes what was sent. */
function unauthenticated(message: string, error?: 'invalid_request' | 'invalid_token'): ServiceError {
  return new ServiceError(401, message, {
    'www-authenticate': error === undefined ? REALM : `${REALM}, error="${error}"`,
  });
}

export interface CallerAuthenticator {
  /**
   * The caller of a request from its `Authorization` header values (each occurrence separately, as Node's
   * `headersDistinct` gives them). Throws a 401 `ServiceError` (with `WWW-Authenticate: Bearer`) when there is
   * no token or an unknown one, a 400 when the header is repeated.
   */
  authenticate(authorization: readonly string[] | undefined): Caller;
}

/**
 * Matches bearer tokens against the configured ones (SERVICE_API_TOKENS). The presented token is hashed and
 * its SHA-256 digest compared with every configured digest by `timingSafeEqual` — fixed length, no early exit —
 * so neither the answer's time nor its content tells how much of a token was right.
 *
 * @example
 * const auth = createCallerAuthenticator(env.SERVICE_API_TOKENS);
 * const caller = auth.authenticate(request.raw.headersDistinct.authorization);
 * requireScope(caller, 'read');
 */
export function createCallerAuthenticator(tokens: readonly ServiceApiToken[]): CallerAuthenticator {
  if (tokens.length === 0) throw new Error('the config service needs at least one API token');
  const callers = tokens.map((token) => ({
    digest: token.digest,
    caller: Object.freeze({ name: token.name, scopes: token.scopes }) as Caller,
  }));
  return {
    authenticate(authorization) {
      if (authorization === undefined || authorization.length === 0) {
        throw unauthenticated(
          'authentication required: send "Authorization: Bearer <token>" with a token from SERVICE_API_TOKENS',
        );
      }
      if (authorization.length > 1) throw new ServiceError(400, 'authorization must be given once');
      const header = authorization[0] ?? '';
      const match = /^Bearer +(\S+) *$/i.exec(header);
      if (!match) {
        throw unauthenticated('the Authorization header must be "Bearer <token>"', 'invalid_request');
      }
      const presented = tokenDigest(match[1] ?? '');
      let found: Caller | undefined;
      for (const { digest, caller } of callers) {
        // Every digest is compared, whichever matches: the time does not depend on the position.
        if (timingSafeEqual(digest, presented) && found === undefined) found = caller;
      }
      if (!found) throw unauthenticated('the bearer token is not one of SERVICE_API_TOKENS', 'invalid_token');
      return found;
    },
  };
}

/** Throws a 403 naming the caller and the scope it lacks. */
export function requireScope(caller: Caller, scope: ApiScope, forWhat?: string): void {
  if (!caller.scopes.has(scope)) {
    throw new ServiceError(
      403,
      `the token "${caller.name}" lacks the "${scope}" scope${forWhat === undefined ? '' : ` ${forWhat}`}`,
    );
  }
}

/** Throws a 403 unless the caller has at least one of the scopes. */
export function requireAnyScope(caller: Caller, scopes: readonly ApiScope[]): void {
  if (!scopes.some((scope) => caller.scopes.has(scope))) {
    throw new ServiceError(
      403,
      `the token "${caller.name}" has none of the scopes this route needs (${scopes.join(' or ')})`,
    );
  }
}

/**
 * The scope a write needs, known once its body is parsed: `write:user` for a user's own value,
 * `write:global` for the global one.
 *
 * @example
 * requireWriteScope(context.caller, write.scope);
 */
export function requireWriteScope(caller: Caller, scope: 'user' | 'global'): void {
  requireScope(caller, scope === 'user' ? 'write:user' : 'write:global', `to write a ${scope} value`);
}
