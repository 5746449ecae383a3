import type { FollowOptions } from './follow-options';
import { formatRollout } from './format-rollout';
import { workflowUiUrl, type RolloutConnections } from './rollout-connections';
import { watchRollout } from './watch-rollout';

/**
 * Shared by `watch` and `start --watch`: prints events (and a data phase's batch progress) as they happen,
 * then the final status; the exit code is 1 unless the rollout completed, so scripts and CI can rely on it.
 * With `timeoutMs`, gives up after that long (exit 4, see exit-codes.ts) and the rollout goes on.
 */
export async function followRollout(
  connections: RolloutConnections,
  rolloutId: string,
  options: FollowOptions & { json?: boolean; write: (text: string) => void; notify?: (text: string) => void },
): Promise<void> {
  const view = await watchRollout(connections, rolloutId, options);
  const url = workflowUiUrl(connections.env, rolloutId);
  options.write(options.json ? `${JSON.stringify({ ...view, url })}\n` : `\n${formatRollout(view, url)}`);
  if (view.status?.outcome !== 'completed') process.exitCode = 1;
}
