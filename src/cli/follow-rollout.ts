import { formatRollout } from './format-rollout';
import { workflowUiUrl, type RolloutConnections } from './rollout-connections';
import { watchRollout } from './watch-rollout';

/**
 * Shared by `watch` and `start --watch`: prints events as they happen, then the final status; the exit
 * code is 1 unless the rollout completed, so scripts and CI can rely on it.
 */
export async function followRollout(
  connections: RolloutConnections,
  rolloutId: string,
  options: { json?: boolean; write: (text: string) => void; notify?: (text: string) => void },
): Promise<void> {
  const view = await watchRollout(connections, rolloutId, options);
  const url = workflowUiUrl(connections.env, rolloutId);
  options.write(options.json ? `${JSON.stringify({ ...view, url })}\n` : `\n${formatRollout(view, url)}`);
  if (view.status?.outcome !== 'completed') process.exitCode = 1;
}
