import { CancellationScope } from '@temporalio/workflow';

/** How a stoppable activity ended: its value, or the error it failed with (a cancellation included). */
export type ActivityEnd<T> = { ok: true; value: T } | { ok: false; error: unknown };

/** An activity running in a cancellation scope of its own, so a wait can stop just it. */
export interface StoppableActivity<T> {
  /** Resolves once the activity has ended (never rejects). */
  readonly ended: Promise<ActivityEnd<T>>;
  /** True once it has ended: for the conditions the workflow waits on. */
  settled(): boolean;
  /** Asks Temporal to cancel it (the proxy's cancellation type says whether `ended` waits for it). */
  cancel(): void;
}

/**
 * Starts an activity (or any work) in its own cancellation scope. The waits that watch a long activity (a data
 * phase, a gated soak, a call to Unleash) each wait for it or for a reason to stop it, then cancel it.
 *
 * @example
 * const phase = startStoppable(() => dataPhases.migrateKeys({ rolloutId }));
 * await condition(() => phase.settled() || waits.rollbackRequested());
 * if (!phase.settled()) phase.cancel();
 * const end = await phase.ended;
 */
export function startStoppable<T>(start: () => Promise<T>): StoppableActivity<T> {
  const scope = new CancellationScope();
  let settled = false;
  const ended = scope.run(start).then(
    (value): ActivityEnd<T> => {
      settled = true;
      return { ok: true, value };
    },
    (error: unknown): ActivityEnd<T> => {
      settled = true;
      return { ok: false, error };
    },
  );
  return { ended, settled: () => settled, cancel: () => scope.cancel() };
}
