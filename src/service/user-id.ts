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
 * A repeated or malformed header is a 400, not a guess.
 *
 * @example
 * parseUserId(request.headers['x-user-id']); // 'user-42'
 */
export function parseUserId(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (Array.isArray(header)) throw new ServiceError(400, `${USER_ID_HEADER} must be given once`);
  if (header.length === 0 || header.length > MAX_USER_ID_LENGTH || CONTROL_CHARACTERS.test(header)) {
    throw new ServiceError(
      400,
      `${USER_ID_HEADER} must be 1 to ${MAX_USER_ID_LENGTH} characters without control characters`,
    );
  }
  return header;
}
