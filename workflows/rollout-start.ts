import { ApplicationFailure } from '@temporalio/workflow';
import { ROLLOUT_ID } from '../src/plan/rollout-id';
import { parseRolloutPlan, PlanError, type RolloutPlan } from '../src/plan/rollout-plan';
import type { RolloutInput, RolloutStatus } from './rollout-status';

/** The plan, checked again inside the workflow: a bad id or plan fails the rollout for good, changing nothing. */
export function parsePlanOrFail(input: RolloutInput): RolloutPlan {
  if (!ROLLOUT_ID.test(input.rolloutId)) {
    throw ApplicationFailure.nonRetryable(
      `rollout id "${String(input.rolloutId).slice(0, 100)}" must match ${ROLLOUT_ID}`,
      'InvalidPlan',
    );
  }
  try {
    return parseRolloutPlan(input.plan, `for rollout ${input.rolloutId}`);
  } catch (error) {
    if (error instanceof PlanError) throw ApplicationFailure.nonRetryable(error.message, 'InvalidPlan');
    throw error;
  }
}

/** The status of a rollout that has not started its first phase. */
export function initialStatus(input: RolloutInput, plan: RolloutPlan): RolloutStatus {
  // The order is what a person reads in the Temporal UI's query result: what an operator needs first, the
  // plan and the phases' reports (counts) last.
  return {
    rolloutId: input.rolloutId,
    flag: plan.flag,
    project: plan.unleash.project,
    environment: plan.unleash.environment,
    outcome: 'running',
    phase: 'preflight',
    stage: null,
    percent: 0,
    paused: false,
    pausedBy: null,
    awaitingApprovalStage: null,
    soakEndsAt: null,
    gates: null,
    error: null,
    cancelledBy: null,
    operatorAction: null,
    events: [],
    ignored: { count: 0, last: [] },
    rollbackFailures: [],
    stages: plan.stages.map((s) => ({ percent: s.percent, soakMs: s.soak, approval: s.approval })),
    stageIndex: null,
    preflight: null,
    backups: [],
    keyMigration: null,
    templateMigration: null,
    seeding: null,
    continuedAsNew: 0,
  };
}
