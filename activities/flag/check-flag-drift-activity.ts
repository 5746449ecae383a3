import type { FlagTarget } from '../../src/unleash/unleash-admin-client';
import {
  describeDrift,
  strategyDrift,
  type RolloutStrategySnapshot,
  type StrategyDifference,
} from '../../src/unleash/strategy-drift';
import type { ActivityDeps } from '../activity-deps';

export interface CheckFlagDriftInput {
  target: FlagTarget;
  /** What the rollout last wrote ({@link writeFlagPercent}'s `baseline`). */
  baseline: RolloutStrategySnapshot;
}

export interface CheckFlagDriftResult {
  /** Empty when the strategy is as the rollout left it. */
  differences: StrategyDifference[];
}

/**
 * The drift guard's read: the flag's strategy as Unleash serves it now, compared with the rollout's last write
 * (rollout percent, groupId, stickiness, constraints, variants, segments, switched off, strategies added
 * beside it). Returns the differences (short texts, no token) for the workflow to pause with; Unleash not
 * answering throws and is retried.
 */
export async function checkFlagDrift(
  deps: Pick<ActivityDeps, 'unleash' | 'logger'>,
  input: CheckFlagDriftInput,
): Promise<CheckFlagDriftResult> {
  const current = await deps.unleash.readRolloutSnapshot(input.target, input.baseline.strategyId);
  const differences = strategyDrift(input.baseline, current);
  if (differences.length > 0) {
    deps.logger.warn(
      { flag: input.target.flag, environment: input.target.environment, drift: describeDrift(differences) },
      'flag strategy edited outside the rollout',
    );
  }
  return { differences };
}
