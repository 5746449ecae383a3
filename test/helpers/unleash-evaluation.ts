import { InMemStorageProvider, Unleash } from 'unleash-client';
import type { Env } from '../../src/config/env';

/**
 * Evaluates a flag for many users the way a service does: a fresh unleash-client, synchronized with the
 * server, asked per user. Returns the ids it enables and the rollout percent the client received.
 */
export async function evaluateForUsers(
  env: Env,
  flag: string,
  userIds: readonly string[],
): Promise<{ enabled: Set<string>; clientPercent: string | undefined }> {
  const client = new Unleash({
    appName: 'rollout-tests',
    url: new URL('/api/', env.UNLEASH_URL).toString(),
    customHeaders: { Authorization: env.UNLEASH_CLIENT_TOKEN },
    disableMetrics: true,
    // Long enough that the one fetch at start is the only one while the test evaluates.
    refreshInterval: 60_000,
    storageProvider: new InMemStorageProvider(),
    skipInstanceCountWarning: true,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`unleash-client did not synchronize with ${env.UNLEASH_URL} in 10 s`)),
        10_000,
      );
      client.once('synchronized', () => {
        clearTimeout(timer);
        resolve();
      });
      client.once('error', (error: Error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
    const definition = client.getFeatureToggleDefinition(flag);
    const enabled = new Set(userIds.filter((userId) => client.isEnabled(flag, { userId })));
    return { enabled, clientPercent: definition?.strategies?.[0]?.parameters?.rollout as string | undefined };
  } finally {
    client.destroy();
  }
}

/**
 * Unleash serves clients from a cache that follows Admin API writes within about a second, so a client
 * made right after a change may still get the previous state. Evaluates with fresh clients until one has
 * received `percent`, within `timeoutMs`.
 */
export async function evaluateOncePropagated(
  env: Env,
  flag: string,
  userIds: readonly string[],
  percent: number,
  timeoutMs = 15_000,
): Promise<{ enabled: Set<string>; clientPercent: string | undefined }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await evaluateForUsers(env, flag, userIds);
    if (result.clientPercent === String(percent) || Date.now() > deadline) return result;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
