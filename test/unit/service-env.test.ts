import { envSchema } from '../../src/config/env';
import { loadDotenv } from '../../src/config/load-dotenv';
import { parseAddress } from '../../src/service/start-config-service';
import { secretBoxFromEnv } from '../../src/secrets/secret-box';

loadDotenv();
const base = { ...process.env };

function parse(overrides: Record<string, string | undefined>) {
  return envSchema.safeParse({ ...base, ...overrides });
}

describe('config service environment', () => {
  it('has working development defaults in .env.example, including a dev-only encryption key and tokens', () => {
    const result = parse({});
    expect(result.success).toBe(true);
    const env = result.data!;
    expect(env.SERVICE_API_TOKENS?.map((token) => [token.name, [...token.scopes].sort()])).toEqual([
      ['dev-app', ['read', 'users', 'write:user']],
      ['dev-ops', ['admin', 'read', 'write:global']],
    ]);
    expect(parseAddress(env.CONFIG_SERVICE_ADDRESS)).toEqual({ host: '127.0.0.1', port: 8080 });
    const box = secretBoxFromEnv(env);
    expect(box.decrypt(box.encrypt('round trip'))).toBe('round trip');
  });

  it.each([
    [undefined, undefined],
    ['', undefined],
    ['off', 'off'],
    ['OFF', 'off'],
    ['false', 'off'],
    ['on', 'on'],
    ['true', 'on'],
  ])('reads ENABLE_UNIFIED_CONFIG=%p as %p (unset follows Unleash)', (value, expected) => {
    const result = parse({ ENABLE_UNIFIED_CONFIG: value });
    expect(result.success).toBe(true);
    expect(result.data?.ENABLE_UNIFIED_CONFIG).toBe(expected);
  });

  it('rejects an ENABLE_UNIFIED_CONFIG it cannot read instead of guessing', () => {
    const result = parse({ ENABLE_UNIFIED_CONFIG: 'maybe' });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toMatch(/on, off/);
  });

  it('treats empty values (compose `${X:-}`) as unset and applies the defaults', () => {
    const result = parse({
      SERVICE_API_TOKENS: '',
      CONFIG_ENCRYPTION_PREVIOUS_KEYS: '',
      SERVICE_FAULT_RATE: '',
      CONFIG_CACHE_TTL_MS: '',
      CONFIG_INVALIDATION: '',
    });
    expect(result.success).toBe(true);
    expect(result.data).toMatchObject({
      SERVICE_FAULT_RATE: 0,
      CONFIG_CACHE_TTL_MS: 30_000,
      CONFIG_INVALIDATION: 'postgres',
    });
    expect(result.data?.SERVICE_API_TOKENS).toBeUndefined();
  });

  it('polls Unleash every second by default, and accepts 1000 ms to 10 minutes', () => {
    expect(parse({ UNLEASH_REFRESH_INTERVAL_MS: undefined }).data?.UNLEASH_REFRESH_INTERVAL_MS).toBe(1_000);
    expect(parse({ UNLEASH_REFRESH_INTERVAL_MS: '' }).data?.UNLEASH_REFRESH_INTERVAL_MS).toBe(1_000);
    expect(parse({ UNLEASH_REFRESH_INTERVAL_MS: '1000' }).data?.UNLEASH_REFRESH_INTERVAL_MS).toBe(1_000);
    expect(parse({ UNLEASH_REFRESH_INTERVAL_MS: '600000' }).data?.UNLEASH_REFRESH_INTERVAL_MS).toBe(600_000);
    // .env.example ships the fast setting, so a developer's stack rolls back as fast as production's.
    expect(parse({}).data?.UNLEASH_REFRESH_INTERVAL_MS).toBe(1_000);
  });

  it.each([
    ['999', 'must be at least 1000 (ms); Unleash checks for changes once a second'],
    ['0', 'must be at least 1000 (ms); Unleash checks for changes once a second'],
    ['1500.5', 'must be a whole number of milliseconds'],
    ['600001', 'must be at most 600000 (ms, 10 minutes)'],
    ['1s', 'must be a number of milliseconds, e.g. 1000'],
  ])('refuses UNLEASH_REFRESH_INTERVAL_MS=%p, saying why', (value, message) => {
    const result = parse({ UNLEASH_REFRESH_INTERVAL_MS: value });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((issue) => [issue.path.join('.'), issue.message])).toEqual([
      ['UNLEASH_REFRESH_INTERVAL_MS', message],
    ]);
  });

  it.each([
    ['SERVICE_FAULT_RATE', '1.5'],
    ['SERVICE_FAULT_RATE', 'lots'],
    ['CONFIG_INVALIDATION', 'kafka'],
    ['REDIS_URL', 'http://127.0.0.1:6379'],
    ['CONFIG_SERVICE_ADDRESS', '8080'],
    ['SERVICE_API_TOKENS', 'ops:admin:short'],
    ['SERVICE_API_TOKENS', 'ops:superuser:0123456789abcdef0123'],
  ])('rejects %s=%p', (name, value) => {
    const result = parse({ [name]: value });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((issue) => issue.path.join('.'))).toContain(name);
  });
});
