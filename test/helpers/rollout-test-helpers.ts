import type { WorkflowHandle } from '@temporalio/client';
import { endedStatus } from '../../src/cli/read-rollout';
import { setTimeout as sleep } from 'node:timers/promises';
import { createProgram } from '../../src/cli/main';
import type { UnleashAdminClient } from '../../src/unleash/unleash-admin-client';
import { statusQuery } from '../../workflows/rollout-messages';
import type { RolloutStatus } from '../../workflows/rollout-status';

/**
 * Polls the rollout's status query until `ready` holds. A rollout that ends first fails at once (an ended
 * status never changes again), and one that never gets there fails after `timeoutMs`, each saying where it was.
 *
 * @example
 * await waitForStatus(handle, (s) => s.stageIndex === 0, 'stage 1');
 */
export async function waitForStatus(
  handle: WorkflowHandle,
  ready: (status: RolloutStatus) => boolean,
  what: string,
  timeoutMs = 60_000,
): Promise<RolloutStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await handle.query(statusQuery);
    if (ready(status)) return status;
    const where = `phase ${status.phase}, stage ${status.stageIndex}, ignored ${status.ignored.count}`;
    if (status.outcome !== 'running')
      throw new Error(`rollout ended ${status.outcome} (${status.error}) before ${what} (${where})`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (${where})`);
    await sleep(100);
  }
}

/** The flag's rollout percent in the test Unleash, read through the Admin API. */
export async function flagPercent(unleash: UnleashAdminClient, flag: string): Promise<number> {
  const rollout = await unleash.readRollout({ project: 'default', environment: 'development', flag });
  return rollout.percent;
}

/** Runs a `rollout` command in this process and returns what it printed (errors are thrown). */
export async function runCliInProcess(...args: string[]): Promise<string> {
  let out = '';
  const program = createProgram();
  program.commands.forEach((c) =>
    c.configureOutput({ writeOut: (text) => (out += text), writeErr: (text) => (out += text) }),
  );
  await program.parseAsync(['node', 'rollout', ...args]);
  return out;
}

/**
 * The rollout's final status, however it ended: the result of a completed rollout, or the status a rollout
 * that rolled back (`RolledBack`) or failed to (`RollbackFailed`) carries as its failure's first detail. Any
 * other end (a failed phase, a cancel) is thrown as it came.
 *
 * @example
 * expect(await finalStatus(handle)).toMatchObject({ outcome: 'rolled_back', percent: 0 });
 */
export async function finalStatus(handle: WorkflowHandle): Promise<RolloutStatus> {
  // The CLI's own reading of an ended rollout, so the tests read it as operators do.
  const status = await endedStatus(handle);
  if (status) return status;
  await handle.result(); // any other end is thrown as it came
  throw new Error(`rollout ${handle.workflowId} ended without a status`);
}
