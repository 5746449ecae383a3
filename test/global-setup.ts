import { readEnv } from '../src/config/env';
import { loadDotenv } from '../src/config/load-dotenv';
import { stackUp, type StackComponent } from '../src/dev/stack';

declare global {
  // Shared with global-teardown, which jest runs in this same process.
  var rolloutStackStarted: StackComponent[] | undefined;
}

/**
 * Brings the stack up once per run, reusing whatever already runs, and remembers what it started. Only the
 * integration project uses it (jest.config.js), so a unit-only run never starts or waits for the stack.
 */
export default async function globalSetup(): Promise<void> {
  loadDotenv();
  // On failure stackUp itself stops what it started; a stack someone else runs is never touched.
  const { started } = await stackUp(readEnv(), { log: (line) => process.stderr.write(`[stack] ${line}\n`) });
  globalThis.rolloutStackStarted = started;
}
