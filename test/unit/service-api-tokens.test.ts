import { randomBytes } from 'node:crypto';
import { envSchema, readEnv } from '../../src/config/env';
import { serviceApiTokensSchema, tokenDigest, tokensIn } from '../../src/config/service-api-tokens';
import {
  createCallerAuthenticator,
  requireScope,
  requireWriteScope,
  type Caller,
} from '../../src/service/caller-auth';
import { ServiceError } from '../../src/service/service-error';

const secret = (): string => randomBytes(16).toString('hex');

function failure(action: () => unknown): ServiceError {
  try {
    action();
  } catch (error) {
    if (error instanceof ServiceError) return error;
    throw error;
  }
  throw new Error('expected a ServiceError');
}

describe('SERVICE_API_TOKENS format', () => {
  it('parses name:scope+scope:token entries separated by commas, keeping only digests', () => {
    const app = secret();
    const ops = `${secret()}+/=`;
    const tokens = serviceApiTokensSchema.parse(
      `gateway:read+users+write:user:${app}, ops:write:global+admin:${ops}`,
    );
    expect(tokens.map((token) => [token.name, [...token.scopes]])).toEqual([
      ['gateway', ['read', 'users', 'write:user']],
      ['ops', ['write:global', 'admin']],
    ]);
    expect(tokens[0]?.digest.equals(tokenDigest(app))).toBe(true);
    expect(tokens[1]?.digest.equals(tokenDigest(ops))).toBe(true);
    expect(JSON.stringify(tokens)).not.toContain(app);
    expect(tokensIn(`gateway:read:${app},ops:admin:${ops}`)).toEqual([app, ops]);
  });

  it('lets write:user imply users (a user value is named by x-user-id)', () => {
    const [token] = serviceApiTokensSchema.parse(`w:write:user:${secret()}`);
    expect([...(token?.scopes ?? [])].sort()).toEqual(['users', 'write:user']);
  });

  it.each([
    ['', /no token configured/],
    ['gateway:read', /entry 1: must look like <name>:<scope>/],
    ['has space:read:0123456789abcdef', /entry 1: the name must be/],
    ['ops:admin:short-token', /entry 1 \("ops"\): the token must be 16 to 512 characters/],
    ['ops:root:0123456789abcdef0', /entry 1 \("ops"\): unknown scope "root"/],
    ['a:read:0123456789abcdef0,,b:read:0123456789abcdef1', /entry 2 is empty/],
    ['a:read:0123456789abcdef0,a:admin:0123456789abcdef1', /the name "a" is given twice/],
    ['a:read:0123456789abcdef0,b:admin:0123456789abcdef0', /"a" and "b" have the same token/],
  ])('refuses %j with a message that names the problem', (text, message) => {
    const result = serviceApiTokensSchema.safeParse(text);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toMatch(message);
    expect(result.error?.issues[0]?.message).toContain('format: <name>:<scope>');
  });

  it('names SERVICE_API_TOKENS in the startup error and never echoes a token', () => {
    const token = `tok${secret()}`;
    const bad = [`gateway:read:${token}`, `ops:bogus:${token}x`, `${token}`, `x:read:${token.slice(0, 8)}`];
    let message = '';
    try {
      readEnv({ ...process.env, SERVICE_API_TOKENS: bad.join(',') });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/SERVICE_API_TOKENS: .*entry 2 \("ops"\): unknown scope "bogus"/);
    expect(message).toMatch(/entry 3: must look like/);
    expect(message).toMatch(/entry 4 \("x"\): the token must be 16/);
    expect(message).not.toContain(token.slice(0, 8));
  });

  it('is optional in the environment (the worker and CLI do not need it)', () => {
    const { SERVICE_API_TOKENS: _unused, ...rest } = process.env;
    expect(envSchema.safeParse(rest).success).toBe(true);
  });
});

describe('caller authentication', () => {
  const reader = secret();
  const writer = secret();
  const auth = createCallerAuthenticator(
    serviceApiTokensSchema.parse(`reader:read:${reader},writer:write:global+write:user:${writer}`),
  );

  it('finds the caller of a valid bearer token, whichever entry it is', () => {
    expect(auth.authenticate([`Bearer ${reader}`]).name).toBe('reader');
    expect(auth.authenticate([`bearer ${writer}`]).name).toBe('writer');
  });

  it.each([
    ['no header', undefined, 'Bearer realm="config-service"'],
    ['another scheme', ['Basic dXNlcjpwYXNz'], 'Bearer realm="config-service", error="invalid_request"'],
    [
      'an unknown token',
      ['Bearer not-a-configured-token-0123'],
      'Bearer realm="config-service", error="invalid_token"',
    ],
    [
      'a token with one character more',
      [`Bearer ${reader}x`],
      'Bearer realm="config-service", error="invalid_token"',
    ],
  ])('answers %s with a 401 and WWW-Authenticate: Bearer', (_label, header, challenge) => {
    const error = failure(() => auth.authenticate(header));
    expect(error.statusCode).toBe(401);
    expect(error.headers['www-authenticate']).toBe(challenge);
    expect(error.message).not.toContain(reader.slice(0, 8));
  });

  it('refuses a repeated Authorization header with a 400', () => {
    expect(failure(() => auth.authenticate([`Bearer ${reader}`, `Bearer ${writer}`])).statusCode).toBe(400);
  });

  it('checks scopes with a 403 naming the caller and the missing scope', () => {
    const caller: Caller = auth.authenticate([`Bearer ${reader}`]);
    expect(() => requireScope(caller, 'read')).not.toThrow();
    const denied = failure(() => requireWriteScope(caller, 'global'));
    expect({ status: denied.statusCode, message: denied.message }).toEqual({
      status: 403,
      message: 'the token "reader" lacks the "write:global" scope to write a global value',
    });
    const writerCaller = auth.authenticate([`Bearer ${writer}`]);
    expect(() => requireWriteScope(writerCaller, 'user')).not.toThrow();
    expect(() => requireScope(writerCaller, 'users')).not.toThrow();
    expect(failure(() => requireScope(writerCaller, 'read')).statusCode).toBe(403);
  });

  it('refuses to run with no token at all', () => {
    expect(() => createCallerAuthenticator([])).toThrow(/at least one API token/);
  });
});
