import { isGrpcServiceError } from '@temporalio/client';
import type { Command } from 'commander';
import { randomUUID } from 'node:crypto';
import { MAX_REASON_CHARS, printable } from '../../workflows/operator-request';
import { withConnections, writer } from './cli-context';
import { RequestRefusedError, UsageError } from './exit-codes';
import { operatorIdentity } from './operator-identity';
import { describeRollout } from './read-rollout';

/** gRPC NOT_FOUND: the server's answer for a workflow that closed between the describe and the request. */
const GRPC_NOT_FOUND = 5;
const REQUEST_TIMEOUT_MS = 10_000;

/**
 * The reason as it goes into the history: printable (control characters become spaces), trimmed, not
 * empty, and no longer than an operator message's reason (workflows/operator-request.ts).
 *
 * @example
 * cancelReason('  window closed\n'); // 'window closed'
 */
export function cancelReason(text: string): string {
  const reason = printable(text).trim();
  if (reason === '') throw new UsageError('--reason must say why (it is recorded with the cancellation)');
  if (reason.length > MAX_REASON_CHARS)
    throw new UsageError(`--reason is ${reason.length} characters; at most ${MAX_REASON_CHARS}`);
  return reason;
}

/**
 * `rollout cancel <rolloutId> --reason "…"`: asks Temporal to cancel the rollout's workflow, with the
 * operator's identity (user@host) and the reason in the request, so both are in the history's
 * WorkflowExecutionCancelRequested event (where the Temporal UI's Request Cancellation records none). The
 * workflow answers a cancellation by rolling back (the flag to 0 %, then the data phases in reverse) and then
 * ends as cancelled. A rollout that has ended, or whose cancellation was already asked for, is refused (exit 1).
 */
export function registerCancelCommand(program: Command): void {
  program
    .command('cancel')
    .description(
      'cancel a running rollout: it rolls back (flag to 0 %, data phases in reverse), then ends as cancelled; your user@host and the reason are recorded in its history',
    )
    .argument('<rolloutId>')
    .requiredOption('--reason <text>', `why (required; at most ${MAX_REASON_CHARS} characters)`)
    .option('--json', 'print the request as JSON')
    .action(async (rolloutId: string, options: { reason: string; json?: boolean }, command: Command) => {
      const out = writer(command);
      const reason = cancelReason(options.reason);
      const identity = operatorIdentity();
      await withConnections(async (connections) => {
        const described = await describeRollout(connections, rolloutId);
        const ended = () =>
          new RequestRefusedError(
            `rollout ${rolloutId} has already ended (${described.execution}); there is nothing to cancel`,
          );
        if (described.execution !== 'RUNNING') throw ended();
        if (described.cancelRequested) {
          throw new RequestRefusedError(
            `rollout ${rolloutId}: its cancellation was already requested and it is rolling back; follow it with rollout watch ${rolloutId}`,
          );
        }
        const { client, env } = connections;
        try {
          await client.connection.withDeadline(Date.now() + REQUEST_TIMEOUT_MS, () =>
            client.workflowService.requestCancelWorkflowExecution({
              namespace: env.TEMPORAL_NAMESPACE,
              // The latest run (a rollout continues as new when its history grows), but only of this
              // rollout's chain.
              workflowExecution: { workflowId: rolloutId },
              firstExecutionRunId: described.firstRunId ?? undefined,
              identity,
              reason,
              requestId: randomUUID(),
            }),
          );
        } catch (error) {
          if (isGrpcServiceError(error) && error.code === GRPC_NOT_FOUND) throw ended();
          throw error;
        }
        out(
          options.json
            ? `${JSON.stringify({ rolloutId, cancelRequested: true, identity, reason })}\n`
            : `rollout ${rolloutId}: cancellation requested by ${identity}; it rolls back, then ends as cancelled ` +
                `(follow it with rollout watch ${rolloutId})\n`,
        );
      });
    });
}
