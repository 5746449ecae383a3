import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import { Option, type Command } from 'commander';
import os from 'node:os';
import { ROLLBACK_SCOPES, type RollbackScope } from '../plan/rollout-plan';
import type { OperatorRequest } from '../../workflows/operator-controls';
import { approveUpdate, pauseUpdate, resumeUpdate, rollbackUpdate } from '../../workflows/rollout-messages';
import type { OperatorAnswer } from '../../workflows/rollout-status';
import { withConnections, writer } from './cli-context';
import { RequestRefusedError } from './exit-codes';
import { RolloutNotFoundError } from './read-rollout';

const operations: {
  name: string;
  description: string;
  update: UpdateDefinition<OperatorAnswer, [OperatorRequest]>;
  done: (answer: OperatorAnswer, request: OperatorRequest) => string;
  /** Options of this command alone (made per program: commander keeps state in each). */
  options?: () => Option[];
}[] = [
  {
    name: 'pause',
    description: 'hold the rollout before its next stage or phase (the current soak keeps running)',
    update: pauseUpdate,
    done: (s) => `paused at ${s.phase}, ${s.percent}%`,
  },
  {
    name: 'resume',
    description: 'let a paused rollout go on',
    update: resumeUpdate,
    done: (s) => `resumed at ${s.phase}, ${s.percent}%`,
  },
  {
    name: 'approve',
    description: 'approve the stage that waits for approval',
    update: approveUpdate,
    done: () => 'approved; the stage starts now',
  },
  {
    name: 'rollback',
    description: 'roll back now: the flag to 0 % (verified), then the data phases in reverse',
    update: rollbackUpdate,
    done: (_answer, request) =>
      `rollback requested (${request.scope ? `scope ${request.scope}` : "the plan's rollback.scope"}); follow it with rollout watch`,
    // Commander refuses any other value (exit 2) before anything is sent.
    options: () => [
      new Option(
        '--scope <scope>',
        "what to undo: flag (the flag to 0 %, migrated data stays) or full (the flag, then the data phases); default: the plan's rollback.scope",
      ).choices(ROLLBACK_SCOPES),
    ],
  },
];

/** Operators' commands, sent as workflow updates so the answer (or the refusal and its reason) is immediate. */
export function registerOperatorCommands(program: Command): void {
  for (const operation of operations) {
    const command = program
      .command(operation.name)
      .description(operation.description)
      .argument('<rolloutId>')
      .option('--reason <text>', 'why, for the audit log')
      .option('--json', 'print the rollout status after the change as JSON');
    for (const option of operation.options?.() ?? []) command.addOption(option);
    command.action(
      async (
        rolloutId: string,
        options: { reason?: string; json?: boolean; scope?: RollbackScope },
        invoked: Command,
      ) => {
        const out = writer(invoked);
        const request: OperatorRequest = {
          actor: `${os.userInfo().username}@${os.hostname()}`,
          reason: options.reason,
          // Only a rollback has the option; pause, resume and approve would be refused with a scope.
          ...(options.scope ? { scope: options.scope } : {}),
        };
        await withConnections(async ({ client }) => {
          let status: OperatorAnswer;
          try {
            status = await client.workflow
              .getHandle(rolloutId)
              .executeUpdate(operation.update, { args: [request] });
          } catch (error) {
            // Refused by the workflow: exit 1; no such rollout: exit 2 (see exit-codes.ts).
            if (error instanceof WorkflowUpdateFailedError) {
              throw new RequestRefusedError(`rollout ${rolloutId}: ${error.cause?.message ?? error.message}`);
            }
            if (error instanceof WorkflowNotFoundError) throw new RolloutNotFoundError(rolloutId);
            throw error;
          }
          out(
            options.json
              ? `${JSON.stringify(status)}\n`
              : `rollout ${rolloutId}: ${operation.done(status, request)}\n`,
          );
        });
      },
    );
  }
}
