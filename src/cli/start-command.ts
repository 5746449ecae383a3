import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { Command } from 'commander';
import { ROLLOUT_ID } from '../plan/rollout-id';
import { RolloutWorkflow } from '../../workflows/rollout-workflow';
import { loadPlanFile } from '../plan/load-plan-file';
import { toPlanInput } from '../plan/rollout-plan';
import {
  ROLLOUT_FLAG,
  ROLLOUT_OUTCOME,
  ROLLOUT_PAUSED,
  ROLLOUT_PERCENT,
  ROLLOUT_PHASE,
} from '../temporal/search-attributes';
import { rolloutSummary } from '../../workflows/current-details';
import { errorWriter, withConnections, writer } from './cli-context';
import { UsageError } from './exit-codes';
import { newRolloutId } from './new-rollout-id';
import { workflowUiUrl } from './rollout-connections';
import { addFollowOptions, parseFollowOptions } from './follow-options';
import { followRollout } from './follow-rollout';
import { operatorIdentity } from './operator-identity';

/** Release managers' entry point: validate the plan, start the workflow, optionally follow it to the end. */
export function registerStartCommand(program: Command): void {
  const start = program
    .command('start')
    .description('validate a plan file (YAML or JSON) and start its rollout')
    .argument('<plan>', 'path to the plan file')
    .option('--id <rolloutId>', `rollout id (default: generated; must match ${ROLLOUT_ID})`)
    .option('--watch', 'follow the rollout until it ends, like rollout watch')
    .option('--json', 'print the started rollout as JSON');
  addFollowOptions(start, 'with --watch: ').action(
    async (
      planFile: string,
      options: { id?: string; watch?: boolean; json?: boolean; timeout?: string; progressEvery?: string },
      command: Command,
    ) => {
      const out = writer(command);
      const follow = parseFollowOptions(options);
      if (!options.watch && (follow.timeoutMs !== undefined || follow.progressEveryMs !== undefined))
        throw new UsageError(
          '--timeout and --progress-every apply to --watch; add --watch or leave them out',
        );
      // Everything that can be wrong with the input is reported before anything starts.
      const plan = await loadPlanFile(planFile);
      const rolloutId = options.id ?? newRolloutId();
      if (!ROLLOUT_ID.test(rolloutId))
        throw new UsageError(`rollout id "${rolloutId}" must match ${ROLLOUT_ID}`);
      const requestedBy = operatorIdentity();
      await withConnections(async (connections) => {
        const { env, client } = connections;
        try {
          await client.workflow.start(RolloutWorkflow, {
            workflowId: rolloutId,
            taskQueue: env.ROLLOUT_TASK_QUEUE,
            // A rollout id names one rollout forever: its backups and audit log are keyed by it.
            workflowIdReusePolicy: 'REJECT_DUPLICATE',
            // The workflow validates its input again, with the same rules: durations go with their units.
            args: [{ rolloutId, plan: toPlanInput(plan), requestedBy }],
            // What the Temporal UI's list and header show for the rollout, fixed for its whole life.
            staticSummary: rolloutSummary(plan),
            staticDetails: `started by ${requestedBy}; find it with RolloutFlag = "${plan.flag}"`,
            typedSearchAttributes: [
              { key: ROLLOUT_FLAG, value: plan.flag },
              { key: ROLLOUT_PHASE, value: 'preflight' },
              { key: ROLLOUT_PERCENT, value: 0 },
              { key: ROLLOUT_OUTCOME, value: 'running' },
              { key: ROLLOUT_PAUSED, value: false },
            ],
          });
        } catch (error) {
          if (error instanceof WorkflowExecutionAlreadyStartedError)
            throw new UsageError(`rollout ${rolloutId} already exists`, { cause: error });
          throw error;
        }
        const url = workflowUiUrl(env, rolloutId);
        if (options.json) {
          out(
            `${JSON.stringify({ rolloutId, flag: plan.flag, environment: plan.unleash.environment, url })}\n`,
          );
        } else {
          out(
            `started rollout ${rolloutId} of ${plan.flag} in ${plan.unleash.project}/${plan.unleash.environment}\n`,
          );
          out(`  stages ${plan.stages.map((s) => `${s.percent}%`).join(' → ')}\n  temporal ${url}\n`);
        }
        if (options.watch)
          await followRollout(connections, rolloutId, {
            ...follow,
            json: options.json,
            write: out,
            notify: errorWriter(command),
          });
      });
    },
  );
}
