import { ServiceError } from './service-error';

/** The request header that names the user; the flag decides per user, and user values win over global ones. */
export const USER_ID_HEADER = 'x-user-id';

const MAX_USER_ID_LENGTH = 256;
// Control characters (and DEL) have no business in an id and would garble logs.
// eslint-disable-next-line no-control-regex -- rejecting control characters is the point.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/**
 * The user id from the `x-user-id` header, or `undefined` when the header is absent (then the global values
 * are served and the flag sees no user, which `flexibleRollout` with `userId` stickiness leaves disabled).
 * Pass Node's `headersDistinct` entry: `headers` joins a repeated header into one `a, b` string, which would
 * pass for a user id. A repeated or malformed header is a 400, not a guess, and its text is not quoted.
 *
 * @example
 * parseUserId(request.raw.headersDistinct['x-user-id']); // 'user-42'
 */
export function parseUserId(header: string | readonly string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (typeof header !== 'string' && header.length > 1) {
    throw new ServiceError(400, `${USER_ID_HEADER} must be given once`);
  }
  const value = typeof header === 'string' ? header : header[0];
  if (value === undefined) return undefined;
  if (value.length === 0 || value.length > MAX_USER_ID_LENGTH || CONTROL_CHARACTERS.test(value)) {
    throw new ServiceError(
      400,
      `${USER_ID_HEADER} must be 1 to ${MAX_USER_ID_LENGTH} characters without control characters`,
    );
  }
  return value;
}
