import {
  isGrpcServiceError,
  NamespaceNotFoundError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
} from '@temporalio/client';
import { CommanderError } from 'commander';
import { PlanError } from '../plan/rollout-plan';

/**
 * What the `rollout` CLI's exit status means; `rollout --help` prints this table, so scripts and CI can tell
 * a rollout that failed from a command that was wrong from a service that was down.
 */
export const EXIT_CODES = [
  { code: 0, meaning: 'done (watch, start --watch: the rollout completed)' },
  {
    code: 1,
    meaning:
      'the rollout failed, rolled back or was cancelled; the workflow refused an operator request; any other error',
  },
  {
    code: 2,
    meaning:
      'bad usage or input: unknown command or option, invalid plan file, invalid or unknown rollout id or namespace',
  },
  { code: 3, meaning: 'a service did not answer: Temporal, Postgres or Unleash unreachable or timed out' },
  {
    code: 4,
    meaning:
      'watch --timeout (start --watch --timeout): the time ran out while the rollout still runs (it goes on)',
  },
] as const;

export type ExitCode = (typeof EXIT_CODES)[number]['code'];

/** Something the user can fix in the command line, the plan or the environment: exit 2. */
export class UsageError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'UsageError';
  }
}

/** An operator request the workflow refused (nothing changed): exit 1. */
export class RequestRefusedError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'RequestRefusedError';
  }
}

/** `watch --timeout` ran out while the rollout was still running (the rollout goes on): exit 4. */
export class WatchTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WatchTimeoutError';
  }
}

/** A service the command needs did not answer (refused, unresolvable, timed out): exit 3. */
export class ServiceUnreachableError extends Error {
  constructor(
    readonly service: 'Temporal' | 'Postgres' | 'Unleash',
    address: string,
    cause: unknown,
  ) {
    super(
      `cannot reach ${service} at ${address} (is the stack up? npm run stack:up): ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
    this.name = 'ServiceUnreachableError';
  }
}

/** Node and undici codes for a connection that could not be made or was lost. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_SOCKET',
]);
/** gRPC status codes UNAVAILABLE and DEADLINE_EXCEEDED (Temporal's transport). */
const GRPC_UNREACHABLE = new Set([14, 4]);
/** node-postgres reports a connect timeout or a dropped connection with these messages and no code. */
const PG_CONNECTION_LOST =
  /^(timeout exceeded when trying to connect|Connection terminated (unexpectedly|due to connection timeout))/;

/** The error, its causes and the members of an AggregateError (Node's connect tries every address). */
function* errorChain(error: unknown, depth = 0): Generator<unknown> {
  if (error === undefined || error === null || depth > 8) return;
  yield error;
  if (error instanceof AggregateError) for (const inner of error.errors) yield* errorChain(inner, depth + 1);
  if (error instanceof Error && error.cause !== error) yield* errorChain(error.cause, depth + 1);
}

/** True when the error, or anything that caused it, says a service could not be reached or did not answer. */
export function isUnreachable(error: unknown): boolean {
  for (const link of errorChain(error)) {
    if (link instanceof ServiceUnreachableError) return true;
    if (!(link instanceof Error)) continue;
    const code = (link as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
    if (isGrpcServiceError(link) && GRPC_UNREACHABLE.has(link.code)) return true;
    // fetch's AbortSignal.timeout
    if (link.name === 'TimeoutError') return true;
    if (PG_CONNECTION_LOST.test(link.message)) return true;
  }
  return false;
}

/**
 * The exit status for an error a command ended with, by {@link EXIT_CODES}. Commander's own errors (unknown
 * option, missing argument) are usage errors, except help and `--version`, which succeed.
 *
 * @example
 * exitCodeFor(new PlanError('plan.yaml', ['flag: required'])); // 2
 * exitCodeFor(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })); // 3
 */
export function exitCodeFor(error: unknown): ExitCode {
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
  if (error instanceof WatchTimeoutError) return 4;
  if (isUnreachable(error)) return 3;
  if (
    error instanceof UsageError ||
    error instanceof NamespaceNotFoundError ||
    error instanceof PlanError ||
    error instanceof WorkflowNotFoundError ||
    error instanceof WorkflowExecutionAlreadyStartedError
  ) {
    return 2;
  }
  return 1;
}

/** The table for `rollout --help`. */
export function exitCodesHelp(): string {
  // No newline at the end: commander ends each help text with one.
  return `\nExit codes:\n${EXIT_CODES.map(({ code, meaning }) => `  ${code}  ${meaning}`).join('\n')}`;
}
