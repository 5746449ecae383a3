import { stackDown } from '../src/dev/stack';

/** Stops only what the global setup started; a stack a developer brought up keeps running. */
export default async function globalTeardown(): Promise<void> {
  const started = globalThis.rolloutStackStarted ?? [];
  if (started.length > 0) await stackDown(started);
}
