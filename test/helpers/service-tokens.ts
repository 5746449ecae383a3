import { randomBytes } from 'node:crypto';
import {
  serviceApiTokensSchema,
  type ApiScope,
  type ServiceApiToken,
} from '../../src/config/service-api-tokens';

export interface TestToken {
  name: string;
  scopes: ApiScope[];
  /** The bearer token to send. */
  token: string;
}

const token = (name: string, scopes: ApiScope[]): TestToken => ({
  name,
  scopes,
  token: `${name}-${randomBytes(16).toString('hex')}`,
});

/**
 * The config service's callers in tests, with fresh random tokens per test process: one per scope, one with
 * them all (the default of `call`), and one per realistic role.
 */
export const TEST_TOKENS = {
  all: token('test-all', ['read', 'users', 'write:user', 'write:global', 'admin']),
  read: token('test-read', ['read']),
  users: token('test-users', ['users']),
  readUsers: token('test-read-users', ['read', 'users']),
  writeUser: token('test-write-user', ['write:user']),
  writeGlobal: token('test-write-global', ['write:global']),
  admin: token('test-admin', ['admin']),
} satisfies Record<string, TestToken>;

/** `SERVICE_API_TOKENS` text configuring every test token, for a service started from the environment. */
export const TEST_SERVICE_API_TOKENS = Object.values(TEST_TOKENS)
  .map((entry) => `${entry.name}:${entry.scopes.join('+')}:${entry.token}`)
  .join(',');

/** The test tokens as `createConfigService` takes them. */
export function testApiTokens(): ServiceApiToken[] {
  return serviceApiTokensSchema.parse(TEST_SERVICE_API_TOKENS);
}

/** `Authorization` header of a token (default: the all-scopes one). */
export function bearer(value: string = TEST_TOKENS.all.token): { authorization: string } {
  return { authorization: `Bearer ${value}` };
}
