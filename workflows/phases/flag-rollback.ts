import type { FlagTarget, RolloutReadback } from '../../src/unleash/unleash-admin-client';
import type { PhaseContext } from './phase-context';
import { inUnleashRounds } from './unleash-rounds';

/**
 * The `patched()` id of {@link setFlagToZeroUntilConfirmed}. Histories recorded before it (one
 * `setFlagPercent` retried by Temporal until Unleash answered) replay on the old path.
 */
export const FLAG_ROLLBACK_ROUNDS_PATCH = 'ramp-flag-rollback-rounds';

/** Kind of the status event (and audit row) that says the flag-to-0 is not confirmed yet. */
export const FLAG_ROLLBACK_RETRYING = 'flag_rollback_retrying';

/**
 * The rollback's first step (issue 9, must-show 7): the flag to 0 %, retried until Unleash confirms it, as
 * before, but in rounds (`inUnleashRounds`), so that while Unleash does not answer the status says so:
 * `operatorAction` names the problem and one `flag_rollback_retrying` event counts the failed attempts and gives
 * the last error; the audit log gets one `flag_rollback_retrying` row. The status keeps the last confirmed
 * percent until Unleash confirms 0 %. A non-retryable failure is thrown, as before (the saga records it).
 */
export function setFlagToZeroUntilConfirmed(
  context: PhaseContext,
  target: FlagTarget,
): Promise<RolloutReadback> {
  return inUnleashRounds(
    context,
    {
      kind: FLAG_ROLLBACK_RETRYING,
      dedupeKey: 'flag-rollback-retrying',
      details: { percent: 0 },
      describe: ({ attempts, since, lastError }) => ({
        message:
          `Unleash has not confirmed the flag at 0% yet: ${attempts} attempts failed since ${since}, the last ` +
          `with: ${lastError}; retrying until Unleash confirms it (users keep the flag's last state meanwhile)`,
        action:
          `the flag ${target.flag} is not confirmed at 0% yet (${attempts} attempts, last error: ${lastError}). ` +
          'Bring Unleash back (or check the worker can reach it); the rollback retries on its own and goes on ' +
          'once Unleash confirms 0%.',
      }),
    },
    (proxy) => proxy.setFlagPercent({ target, percent: 0 }),
    { interruptible: false },
  );
}
