import type { FlagTarget, RolloutReadback } from '../../src/unleash/unleash-admin-client';
import type { RolloutStrategySnapshot } from '../../src/unleash/strategy-drift';
import type { ActivityDeps } from '../activity-deps';
import { confirmRollout } from './confirm-rollout';

export interface WriteFlagPercentInput {
  target: FlagTarget;
  percent: number;
}

export interface WriteFlagPercentResult {
  readback: RolloutReadback;
  /** What the rollout wrote, as Unleash reported it: the baseline for the next drift check. */
  baseline: RolloutStrategySnapshot;
}

/**
 * {@link setFlagPercent}'s counterpart for the drift guard: writes the whole strategy (no constraints, variants
 * or segments), confirms it the same way, and also returns the baseline a later {@link checkFlagDrift}
 * compares with. A constraint, variant or segment that reads back after the write is an unconfirmed write
 * (retried), like a wrong percent.
 */
export async function writeFlagPercent(
  deps: Pick<ActivityDeps, 'unleash' | 'logger'>,
  input: WriteFlagPercentInput,
): Promise<WriteFlagPercentResult> {
  const { readback, written } = await deps.unleash.writeRolloutPercent(input.target, input.percent);
  confirmRollout(input.target, input.percent, readback);
  const leftovers = (['constraints', 'variants', 'segments'] as const).filter(
    (key) => written[key].length > 0,
  );
  if (leftovers.length > 0) {
    throw new Error(
      `Unleash did not confirm ${input.percent}% for ${input.target.flag}: ${leftovers.join(', ')} read back non-empty`,
    );
  }
  deps.logger.info(
    { flag: input.target.flag, environment: input.target.environment, percent: input.percent },
    'flag percent confirmed',
  );
  return { readback, baseline: written };
}
