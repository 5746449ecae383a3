import { defineQuery } from '@temporalio/workflow';
import type { RolloutStatus } from './rollout-status';

/** Current phase, stage, percent, backups and recent events; shared by the CLI, tests and the Temporal UI. */
export const statusQuery = defineQuery<RolloutStatus>('status');
