import type { Command } from 'commander';
import { errorWriter, withConnections, writer } from './cli-context';
import { followRollout } from './follow-rollout';

export function registerWatchCommand(program: Command): void {
  program
    .command('watch')
    .description(
      'follow a rollout until it ends, then print its final status (exit 1 unless it completed); warns when no worker polls its task queue',
    )
    .argument('<rolloutId>')
    .option('--json', 'print events and the final status as JSON lines')
    .action(async (rolloutId: string, options: { json?: boolean }, command: Command) => {
      await withConnections((connections) =>
        followRollout(connections, rolloutId, {
          json: options.json,
          write: writer(command),
          notify: errorWriter(command),
        }),
      );
    });
}
