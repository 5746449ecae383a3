import type { FlagTarget, RolloutReadback } from '../../src/unleash/unleash-admin-client';
import type { ActivityDeps } from '../activity-deps';
import { confirmRollout } from './confirm-rollout';

export interface SetFlagPercentInput {
  target: FlagTarget;
  percent: number;
}

/**
 * Sets the flag's rollout percent and confirms it by reading it back through the Admin API. A stage only
 * counts as reached when Unleash reports exactly what was asked; anything else throws, so the workflow
 * never advances on an unconfirmed change. Unleash being down is retried by Temporal.
 */
export async function setFlagPercent(
  deps: ActivityDeps,
  input: SetFlagPercentInput,
): Promise<RolloutReadback> {
  const readback = await deps.unleash.setRolloutPercent(input.target, input.percent);
  confirmRollout(input.target, input.percent, readback);
  deps.logger.info(
    { flag: input.target.flag, environment: input.target.environment, percent: input.percent },
    'flag percent confirmed',
  );
  return readback;
}
