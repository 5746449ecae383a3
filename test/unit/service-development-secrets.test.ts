import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import {
  checkDevelopmentSecrets,
  DEVELOPMENT_SECRET_DIGESTS,
  findDevelopmentSecrets,
} from '../../src/config/development-secrets';
import { projectRoot } from '../../src/config/load-dotenv';
import { tokensIn } from '../../src/config/service-api-tokens';

const example = parseEnv(readFileSync(path.join(projectRoot, '.env.example'), 'utf8'));
const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');
const own = {
  UNLEASH_ADMIN_TOKEN: '*:*.my-own-admin-token-0f3e9a',
  UNLEASH_CLIENT_TOKEN: 'default:production.my-own-client-token-77b1',
  CONFIG_ENCRYPTION_KEY: 'Yg2m1Y0QmXsXH0b6cZ2r9oQ3cV8kqJ1nL4dWfE7tUaA=',
  SERVICE_API_TOKENS: 'app:read+users:my-own-app-token-0123456789',
};

function run(env: Record<string, string | undefined>, nodeEnv: string | undefined) {
  const warnings: { fields: { variables: string[] }; message: string }[] = [];
  let thrown: Error | undefined;
  try {
    checkDevelopmentSecrets(env, {
      nodeEnv,
      component: 'config service',
      warn: (fields, message) => warnings.push({ fields, message }),
    });
  } catch (error) {
    thrown = error as Error;
  }
  return { warnings, thrown };
}

describe('development secrets', () => {
  it('knows exactly the secret values .env.example ships (digests kept in step with the file)', () => {
    expect(DEVELOPMENT_SECRET_DIGESTS).toEqual({
      UNLEASH_ADMIN_TOKEN: [sha256(example.UNLEASH_ADMIN_TOKEN ?? '')],
      UNLEASH_CLIENT_TOKEN: [sha256(example.UNLEASH_CLIENT_TOKEN ?? '')],
      CONFIG_ENCRYPTION_KEY: [sha256(example.CONFIG_ENCRYPTION_KEY ?? '')],
      SERVICE_API_TOKENS: tokensIn(example.SERVICE_API_TOKENS ?? '').map(sha256),
    });
  });

  it('finds every development value in .env.example, and none in an environment of its own', () => {
    expect(findDevelopmentSecrets(example)).toEqual([
      'UNLEASH_ADMIN_TOKEN',
      'UNLEASH_CLIENT_TOKEN',
      'CONFIG_ENCRYPTION_KEY',
      'SERVICE_API_TOKENS',
    ]);
    expect(findDevelopmentSecrets(own)).toEqual([]);
    expect(findDevelopmentSecrets({})).toEqual([]);
  });

  it('finds one development token among others, and the development key among retired ones', () => {
    const devToken = tokensIn(example.SERVICE_API_TOKENS ?? '')[1];
    expect(
      findDevelopmentSecrets({
        ...own,
        SERVICE_API_TOKENS: `${own.SERVICE_API_TOKENS},ops:admin:${devToken}`,
      }),
    ).toEqual(['SERVICE_API_TOKENS']);
    expect(
      findDevelopmentSecrets({
        ...own,
        CONFIG_ENCRYPTION_PREVIOUS_KEYS: `old:${own.CONFIG_ENCRYPTION_KEY},dev1:${example.CONFIG_ENCRYPTION_KEY}`,
      }),
    ).toEqual(['CONFIG_ENCRYPTION_PREVIOUS_KEYS']);
  });

  it('warns outside production, naming the variables and not the values', () => {
    const env = {
      ...own,
      CONFIG_ENCRYPTION_KEY: example.CONFIG_ENCRYPTION_KEY,
      SERVICE_API_TOKENS: example.SERVICE_API_TOKENS,
    };
    for (const nodeEnv of [undefined, 'development', 'test']) {
      const { warnings, thrown } = run(env, nodeEnv);
      expect(thrown).toBeUndefined();
      expect(warnings).toHaveLength(1);
      expect(warnings[0]?.fields).toEqual({ variables: ['CONFIG_ENCRYPTION_KEY', 'SERVICE_API_TOKENS'] });
      expect(warnings[0]?.message).toMatch(
        /^development secrets in use: CONFIG_ENCRYPTION_KEY, SERVICE_API_TOKENS hold the development value from \.env\.example/,
      );
      expect(JSON.stringify(warnings)).not.toContain(String(env.CONFIG_ENCRYPTION_KEY));
      expect(JSON.stringify(warnings)).not.toContain('dev-app-token');
    }
  });

  it('refuses to start with NODE_ENV=production, naming the variables and not the values', () => {
    const { warnings, thrown } = run(example, 'production');
    expect(warnings).toEqual([]);
    expect(thrown?.message).toMatch(
      /^config service refuses to start with NODE_ENV=production: UNLEASH_ADMIN_TOKEN, UNLEASH_CLIENT_TOKEN, CONFIG_ENCRYPTION_KEY, SERVICE_API_TOKENS hold the development value from \.env\.example/,
    );
    for (const value of Object.values(example)) {
      if (value !== undefined && value.length >= 16) expect(thrown?.message).not.toContain(value);
    }
    expect(tokensIn(example.SERVICE_API_TOKENS ?? '').some((token) => thrown?.message.includes(token))).toBe(
      false,
    );
  });

  it('is silent, in production too, when every secret is the operator own', () => {
    expect(run(own, 'production')).toEqual({ warnings: [], thrown: undefined });
  });
});
