import { ApplicationFailure } from '@temporalio/activity';
import type { FlagTarget, RolloutReadback } from '../../src/unleash/unleash-admin-client';

/**
 * Checks that Unleash reports exactly the percent asked for, on, with `userId` stickiness and the flag's own
 * group id. Another active strategy is refused for good (non-retryable): it can enable users the ramp has not
 * reached, so advancing would misreport the share. Anything else throws a retryable error, so the workflow
 * never advances on an unconfirmed change.
 */
export function confirmRollout(target: FlagTarget, percent: number, readback: RolloutReadback): void {
  const problems: string[] = [];
  if (readback.percent !== percent) problems.push(`percent reads back as ${readback.percent}`);
  if (!readback.enabled) problems.push('environment or strategy reads back as disabled');
  if (readback.stickiness !== 'userId') problems.push(`stickiness reads back as "${readback.stickiness}"`);
  if (readback.groupId !== target.flag) problems.push(`groupId reads back as "${readback.groupId}"`);
  if (readback.foreignStrategies.length > 0 && percent > 0) {
    throw ApplicationFailure.nonRetryable(
      `flag ${target.flag} gained other active strategies (${readback.foreignStrategies.map((s) => s.title ?? s.name).join(', ')})`,
      'ForeignStrategy',
    );
  }
  if (problems.length > 0) {
    throw new Error(`Unleash did not confirm ${percent}% for ${target.flag}: ${problems.join('; ')}`);
  }
}
