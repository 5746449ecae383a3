import type { Command } from 'commander';
import { errorWriter, withConnections, writer } from './cli-context';
import { addFollowOptions, parseFollowOptions } from './follow-options';
import { followRollout } from './follow-rollout';

export function registerWatchCommand(program: Command): void {
  const watch = program
    .command('watch')
    .description(
      'follow a rollout until it ends, then print its final status (exit 1 unless it completed); shows batch progress of data phases; warns when no worker polls its task queue',
    )
    .argument('<rolloutId>')
    .option('--json', 'print events and the final status as JSON lines');
  addFollowOptions(watch).action(
    async (
      rolloutId: string,
      options: { json?: boolean; timeout?: string; progressEvery?: string },
      command: Command,
    ) => {
      const follow = parseFollowOptions(options);
      await withConnections((connections) =>
        followRollout(connections, rolloutId, {
          ...follow,
          json: options.json,
          write: writer(command),
          notify: errorWriter(command),
        }),
      );
    },
  );
}
