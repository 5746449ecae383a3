import { ApplicationFailure } from '@temporalio/activity';
import { claimRun } from '../../db/rollout-runs';
import type { RolloutPlan } from '../../src/plan/rollout-plan';
import type { ActivityDeps } from '../activity-deps';

export interface ClaimRolloutInput {
  rolloutId: string;
  workflowId: string;
  plan: RolloutPlan;
}

/** Records the rollout as running; fails for good when another rollout holds the same flag and environment. */
export async function claimRollout(deps: ActivityDeps, input: ClaimRolloutInput): Promise<void> {
  const result = await claimRun(deps.db, {
    rolloutId: input.rolloutId,
    workflowId: input.workflowId,
    flag: input.plan.flag,
    project: input.plan.unleash.project,
    environment: input.plan.unleash.environment,
    plan: input.plan,
  });
  if (!result.claimed && result.reason === 'id-used') {
    throw ApplicationFailure.nonRetryable(
      `rollout id ${input.rolloutId} was already used by another rollout; start with a new id`,
      'RolloutIdUsed',
    );
  }
  if (!result.claimed) {
    throw ApplicationFailure.nonRetryable(
      `flag ${input.plan.flag} in ${input.plan.unleash.project}/${input.plan.unleash.environment} already has a running rollout (${result.heldBy}); one rollout per flag and environment at a time`,
      'RolloutConflict',
    );
  }
}
