import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { CommanderError } from 'commander';
import {
  EXIT_CODES,
  exitCodeFor,
  exitCodesHelp,
  isUnreachable,
  RequestRefusedError,
  ServiceUnreachableError,
  UsageError,
} from '../../src/cli/exit-codes';
import { RolloutNotFoundError } from '../../src/cli/read-rollout';
import { PlanError } from '../../src/plan/rollout-plan';

/** An error shaped like Node's system errors (net, dns). */
function systemError(code: string, message = `connect ${code} 127.0.0.1:5432`): Error {
  return Object.assign(new Error(message), { code });
}

/** An error shaped like @grpc/grpc-js's: a numeric status code and metadata. */
function grpcError(code: number, details: string): Error {
  return Object.assign(new Error(`${code} ${details}`), { code, details, metadata: {} });
}

describe('exitCodeFor', () => {
  it.each([
    ['help', new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)'), 0],
    ['--version', new CommanderError(0, 'commander.version', '0.1.0'), 0],
    ['an unknown option', new CommanderError(1, 'commander.unknownOption', "error: unknown option '--x'"), 2],
    [
      'an unknown command',
      new CommanderError(1, 'commander.unknownCommand', "error: unknown command 'x'"),
      2,
    ],
    ['a missing argument', new CommanderError(1, 'commander.missingArgument', 'error: missing'), 2],
    ['help shown for no command', new CommanderError(1, 'commander.help', '(outputHelp)'), 2],
  ])('commander: %s', (_what, error, code) => {
    expect(exitCodeFor(error)).toBe(code);
  });

  it.each([
    ['an invalid plan', new PlanError('plan.yaml', ['flag: required']), 2],
    ['a usage error (bad --id, --limit, environment)', new UsageError('rollout id "X" must match'), 2],
    ['an unknown rollout id', new RolloutNotFoundError('r-nope'), 2],
    ['an unknown workflow from the SDK', new WorkflowNotFoundError('not found', 'r-nope', undefined), 2],
    [
      'an id that already ran',
      new WorkflowExecutionAlreadyStartedError('exists', 'r-1', 'RolloutWorkflow'),
      2,
    ],
  ])('input: %s → 2', (_what, error, code) => {
    expect(exitCodeFor(error)).toBe(code);
  });

  it.each([
    ['a refused operator request', new RequestRefusedError('rollout r-1: nothing to resume')],
    [
      'a refused update from the SDK',
      new WorkflowUpdateFailedError('refused', ApplicationFailure.nonRetryable('nothing to resume')),
    ],
    ['an unexpected error', new TypeError('x is undefined')],
    ['a thrown string', 'boom'],
  ])('failure: %s → 1', (_what, error) => {
    expect(exitCodeFor(error)).toBe(1);
  });

  it.each([
    [
      'Temporal at connect',
      new ServiceUnreachableError('Temporal', '127.0.0.1:1', new Error('Failed to connect')),
    ],
    ['Postgres refusing', systemError('ECONNREFUSED')],
    ['a name that does not resolve', systemError('ENOTFOUND', 'getaddrinfo ENOTFOUND db.invalid')],
    ['a connection reset', systemError('ECONNRESET', 'read ECONNRESET')],
    ['pg connect timeout', new Error('timeout exceeded when trying to connect')],
    ['pg connection dropped', new Error('Connection terminated unexpectedly')],
    ['Temporal UNAVAILABLE', grpcError(14, 'No connection established')],
    ['Temporal DEADLINE_EXCEEDED', grpcError(4, 'Deadline exceeded')],
    [
      'fetch refused, wrapped twice (Unleash)',
      new Error('Unleash admin API GET /api failed: TypeError: fetch failed', {
        cause: new TypeError('fetch failed', { cause: systemError('ECONNREFUSED') }),
      }),
    ],
    [
      'fetch timed out (AbortSignal.timeout)',
      new Error('Unleash admin API GET /api failed: no answer within 10000 ms', {
        cause: Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' }),
      }),
    ],
    [
      'every address of localhost refused (AggregateError)',
      new AggregateError([systemError('ECONNREFUSED'), systemError('ECONNREFUSED')], ''),
    ],
  ])('unreachable: %s → 3', (_what, error) => {
    expect(isUnreachable(error)).toBe(true);
    expect(exitCodeFor(error)).toBe(3);
  });

  it.each([
    ['a gRPC error that is not about reaching the server', grpcError(3, 'invalid argument')],
    ['an HTTP error answer', Object.assign(new Error('HTTP 401'), { status: 401 })],
    ['a SQL error', Object.assign(new Error('relation "x" does not exist'), { code: '42P01' })],
  ])('not unreachable: %s', (_what, error) => {
    expect(isUnreachable(error)).toBe(false);
    expect(exitCodeFor(error)).toBe(1);
  });

  it('does not loop on an error that is its own cause', () => {
    const error = new Error('loop');
    (error as { cause?: unknown }).cause = error;
    expect(exitCodeFor(error)).toBe(1);
  });

  it('names the service and the address, never more', () => {
    const error = new ServiceUnreachableError('Temporal', '127.0.0.1:7233', new Error('Failed to connect'));
    expect(error.message).toBe(
      'cannot reach Temporal at 127.0.0.1:7233 (is the stack up? npm run stack:up): Failed to connect',
    );
  });
});

describe('exitCodesHelp', () => {
  it('lists every code with its meaning, one line each', () => {
    const help = exitCodesHelp();
    expect(help.startsWith('\nExit codes:\n')).toBe(true);
    const lines = help.split('\n').slice(2);
    expect(lines).toEqual(EXIT_CODES.map(({ code, meaning }) => `  ${code}  ${meaning}`));
    expect(EXIT_CODES.map((e) => e.code)).toEqual([0, 1, 2, 3, 4]);
  });
});
