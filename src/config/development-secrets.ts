import { createHash } from 'node:crypto';
import { tokensIn } from './service-api-tokens';

/**
 * SHA-256 digests (hex) of the secret values `.env.example` ships, per variable. Digests, because the image
 * has no `.env.example` to compare with (the build context leaves `.env.*` out); a unit test proves they match
 * the file, so changing a default there without here fails the build.
 */
export const DEVELOPMENT_SECRET_DIGESTS: Readonly<Record<string, readonly string[]>> = {
  UNLEASH_ADMIN_TOKEN: ['fab856b819461e81808a80e1c88a39d3fc871e9f1341763ea3467cb38391c4fb'],
  UNLEASH_CLIENT_TOKEN: ['12668feda054bd84cbea4b8bedcf49d64f0d39fcb08f07dd81fbdd086257114d'],
  CONFIG_ENCRYPTION_KEY: ['a393bc34b75287f3cb6207a965680c84346dfc32dfda650ed0fff8ea9193ae27'],
  // One per token of the development SERVICE_API_TOKENS (dev-app, dev-ops).
  SERVICE_API_TOKENS: [
    '95e5a48b51b90c51a80fbf1de17f62f795289a2ef0a6b80b8746cdcc78a01e0b',
    '0970ac28d728e8f2babe2f1b6ce8459e6d1cff82632ce03bb0c79e4745660ec3',
  ],
};

const digestOf = (text: string): string => createHash('sha256').update(text.trim(), 'utf8').digest('hex');

/** The secret values a variable holds: lists are split so that one development entry among others is found. */
function valuesOf(name: string, text: string): string[] {
  if (name === 'SERVICE_API_TOKENS') return tokensIn(text);
  // `id:base64,id:base64`: a retired key that is the development one still opens old ciphertext.
  if (name === 'CONFIG_ENCRYPTION_PREVIOUS_KEYS') {
    return text.split(',').map((entry) => entry.slice(entry.indexOf(':') + 1));
  }
  return [text];
}

const WHERE_TO_LOOK: Readonly<Record<string, string>> = {
  ...Object.fromEntries(Object.keys(DEVELOPMENT_SECRET_DIGESTS).map((name) => [name, name])),
  CONFIG_ENCRYPTION_PREVIOUS_KEYS: 'CONFIG_ENCRYPTION_KEY',
};

/**
 * Names of the variables (never their values) that hold a secret value `.env.example` ships, in a fixed order.
 *
 * @example
 * findDevelopmentSecrets(process.env); // ['CONFIG_ENCRYPTION_KEY', 'SERVICE_API_TOKENS'] on a fresh checkout
 */
export function findDevelopmentSecrets(env: Readonly<Record<string, string | undefined>>): string[] {
  return Object.entries(WHERE_TO_LOOK)
    .filter(([name, digestsOf]) => {
      const text = env[name];
      if (text === undefined || text.trim() === '') return false;
      const known = DEVELOPMENT_SECRET_DIGESTS[digestsOf] ?? [];
      return valuesOf(name, text).some((value) => known.includes(digestOf(value)));
    })
    .map(([name]) => name);
}

export interface DevelopmentSecretsCheck {
  /** `NODE_ENV`; `production` turns the warning into a refusal to start. */
  nodeEnv: string | undefined;
  /** Who is starting, for the messages: `config service`, `worker`. */
  component: string;
  warn(fields: { variables: string[] }, message: string): void;
}

/**
 * Startup check of the service and the worker: development secrets (the tokens and the encryption key in
 * `.env.example`, loaded silently when there is no `.env`) are published with the repository. With
 * NODE_ENV=production their use is a startup error; otherwise a warning naming the variables. Values never
 * appear in either.
 *
 * @example
 * checkDevelopmentSecrets(process.env, { nodeEnv: process.env.NODE_ENV, component: 'worker', warn: (f, m) => logger.warn(f, m) });
 */
export function checkDevelopmentSecrets(
  env: Readonly<Record<string, string | undefined>>,
  check: DevelopmentSecretsCheck,
): void {
  const variables = findDevelopmentSecrets(env);
  if (variables.length === 0) return;
  const which = `${variables.join(', ')} ${variables.length === 1 ? 'holds' : 'hold'} the development value from .env.example`;
  if (check.nodeEnv === 'production') {
    throw new Error(
      `${check.component} refuses to start with NODE_ENV=production: ${which}, which is published with the ` +
        'repository. Set your own values (tokens: `openssl rand -hex 32`, CONFIG_ENCRYPTION_KEY: ' +
        '`openssl rand -base64 32`).',
    );
  }
  check.warn(
    { variables },
    `development secrets in use: ${which}; anyone with the repository knows them. Fine on a developer machine, ` +
      'never anywhere else (with NODE_ENV=production this refuses to start)',
  );
}
