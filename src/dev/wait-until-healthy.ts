import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  /** Names the component in the error, e.g. "Unleash at http://127.0.0.1:4242". */
  component: string;
  timeoutMs: number;
  intervalMs?: number;
  /** Called between attempts; a false return (e.g. the process died) stops waiting at once. */
  stillWorthWaiting?: () => boolean | string;
}

/**
 * Polls `check` until it resolves true. Fails with the component's name, the time waited and the last error.
 *
 * @example
 * await waitUntilHealthy(() => isUnleashHealthy(url), { component: `Unleash at ${url}`, timeoutMs: 120_000 });
 */
export async function waitUntilHealthy(check: () => Promise<boolean>, options: WaitOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError = 'not healthy yet';
  for (;;) {
    try {
      if (await check()) return;
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    }
    const worth = options.stillWorthWaiting?.() ?? true;
    if (worth !== true) {
      throw new Error(
        `${options.component} did not become healthy: ${worth === false ? 'it stopped' : worth}`,
      );
    }
    if (Date.now() >= deadline) {
      throw new Error(
        `${options.component} did not become healthy within ${Math.round(options.timeoutMs / 1000)} s (last: ${lastError})`,
      );
    }
    await sleep(options.intervalMs ?? 500);
  }
}
