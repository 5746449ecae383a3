import { createHash } from 'node:crypto';
import { z } from 'zod';

/**
 * What a config service caller may do. `write:user` implies `users` (a user's own value is named by
 * `x-user-id`, so writing one means acting for that user); no other scope implies another.
 * - `read`: `GET /api/config/:key`, `/api/models`, `/api/generation-defaults`.
 * - `users`: may send `x-user-id`, i.e. act for an end user: the flag decides by that user and their own
 *   values are read (with `read`) or written (with `write:user`). Without it `x-user-id` is refused (403).
 * - `write:user`: `PUT /api/config/:key` of a user's own value (`scope: "user"`).
 * - `write:global`: `PUT /api/config/:key` of the global value every user without their own gets.
 * - `admin`: the admin routes (`GET|POST /admin/fault`).
 */
export const API_SCOPES = ['read', 'users', 'write:user', 'write:global', 'admin'] as const;
export type ApiScope = (typeof API_SCOPES)[number];

/** One configured caller. Only the token's SHA-256 digest is kept: the text itself is dropped after parsing. */
export interface ServiceApiToken {
  readonly name: string;
  readonly scopes: ReadonlySet<ApiScope>;
  /** SHA-256 of the token; callers are matched by digest, in constant time. */
  readonly digest: Buffer;
}

export const SERVICE_API_TOKENS_VARIABLE = 'SERVICE_API_TOKENS';
export const SERVICE_API_TOKENS_FORMAT = '<name>:<scope>[+<scope>...]:<token>[,<name>:<scopes>:<token>...]';
export const MIN_TOKEN_LENGTH = 16;

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
// Anything printable but the separators (`:` ends the scopes, `,` the entry) and whitespace.
const TOKEN = /^[^\s:,]+$/;
const MAX_TOKEN_LENGTH = 512;

/** SHA-256 of a token: the fixed-length form tokens are stored and compared in. */
export function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/**
 * The token text of each entry of a `SERVICE_API_TOKENS` value, without validating anything else: what follows
 * the last `:` of each comma-separated entry. For checks that only need the tokens (development defaults).
 */
export function tokensIn(text: string): string[] {
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.includes(':'))
    .map((entry) => entry.slice(entry.lastIndexOf(':') + 1));
}

/** One problem per entry at most; never quotes an entry (it holds a token). */
function parseEntry(entry: string, index: number): ServiceApiToken | string {
  const where = `entry ${index + 1}`;
  const first = entry.indexOf(':');
  const last = entry.lastIndexOf(':');
  if (first < 0 || first === last) return `${where}: must look like <name>:<scope>[+<scope>...]:<token>`;
  const name = entry.slice(0, first).trim();
  // The name may be quoted only once it is known not to be (part of) a token.
  if (!NAME.test(name)) return `${where}: the name must be 1 to 64 of A-Z a-z 0-9 _ . -`;
  const named = `${where} ("${name}")`;
  const token = entry.slice(last + 1).trim();
  if (token.length < MIN_TOKEN_LENGTH || token.length > MAX_TOKEN_LENGTH) {
    return `${named}: the token must be ${MIN_TOKEN_LENGTH} to ${MAX_TOKEN_LENGTH} characters (make one with \`openssl rand -hex 32\`)`;
  }
  if (!TOKEN.test(token)) return `${named}: the token must not contain whitespace, ":" or ","`;
  const scopes = new Set<ApiScope>();
  for (const scope of entry.slice(first + 1, last).split('+')) {
    const trimmed = scope.trim();
    // Scope names are fixed words, never token text, so an unknown one may be quoted.
    if (!(API_SCOPES as readonly string[]).includes(trimmed)) {
      return `${named}: unknown scope "${trimmed.slice(0, 32)}" (scopes: ${API_SCOPES.join(', ')})`;
    }
    scopes.add(trimmed as ApiScope);
  }
  if (scopes.has('write:user')) scopes.add('users');
  return { name, scopes, digest: tokenDigest(token) };
}

/**
 * Parses `SERVICE_API_TOKENS` (format {@link SERVICE_API_TOKENS_FORMAT}): at least one entry, unique names,
 * unique tokens of at least 16 characters, known scopes. Messages name the entry (and its name), never a
 * token.
 *
 * @example
 * // SERVICE_API_TOKENS=gateway:read+users+write:user:4f1c...e9,ops:read+write:global+admin:9b2d...07
 * const tokens = serviceApiTokensSchema.parse(process.env.SERVICE_API_TOKENS);
 */
export const serviceApiTokensSchema = z.string().transform((text, context): ServiceApiToken[] => {
  const fail = (message: string): never => {
    context.addIssue({ code: 'custom', message: `${message}; format: ${SERVICE_API_TOKENS_FORMAT}` });
    return z.NEVER;
  };
  const entries = text.split(',').map((entry) => entry.trim());
  if (entries.every((entry) => entry === '')) return fail('no token configured');
  const tokens: ServiceApiToken[] = [];
  const problems: string[] = [];
  entries.forEach((entry, index) => {
    if (entry === '') {
      problems.push(`entry ${index + 1} is empty`);
      return;
    }
    const parsed = parseEntry(entry, index);
    if (typeof parsed === 'string') problems.push(parsed);
    else tokens.push(parsed);
  });
  if (problems.length > 0) return fail(problems.join('; '));
  const names = new Set<string>();
  for (const [index, token] of tokens.entries()) {
    if (names.has(token.name)) return fail(`the name "${token.name}" is given twice`);
    names.add(token.name);
    const earlier = tokens.slice(0, index).find((other) => other.digest.equals(token.digest));
    if (earlier) return fail(`"${earlier.name}" and "${token.name}" have the same token; give each its own`);
  }
  return tokens;
});
