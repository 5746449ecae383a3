import { ApplicationFailure } from '@temporalio/activity';
import type { FlagTarget, RolloutReadback } from '../../src/unleash/unleash-admin-client';
import type { ActivityDeps } from '../activity-deps';

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
  const problems: string[] = [];
  if (readback.percent !== input.percent) problems.push(`percent reads back as ${readback.percent}`);
  if (!readback.enabled) problems.push('environment or strategy reads back as disabled');
  if (readback.stickiness !== 'userId') problems.push(`stickiness reads back as "${readback.stickiness}"`);
  if (readback.groupId !== input.target.flag) problems.push(`groupId reads back as "${readback.groupId}"`);
  if (readback.foreignStrategies.length > 0 && input.percent > 0) {
    // Another active strategy can enable users the ramp has not reached; advancing would misreport the share.
    throw ApplicationFailure.nonRetryable(
      `flag ${input.target.flag} gained other active strategies (${readback.foreignStrategies.map((s) => s.title ?? s.name).join(', ')})`,
      'ForeignStrategy',
    );
  }
  if (problems.length > 0) {
    throw new Error(
      `Unleash did not confirm ${input.percent}% for ${input.target.flag}: ${problems.join('; ')}`,
    );
  }
  deps.logger.info(
    { flag: input.target.flag, environment: input.target.environment, percent: input.percent },
    'flag percent confirmed',
  );
  return readback;
}
