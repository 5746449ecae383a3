import type { Command } from 'commander';
import { withConnections, writer } from './cli-context';
import { formatRollout } from './format-rollout';
import { readRollout } from './read-rollout';
import { workflowUiUrl } from './rollout-connections';

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description("show a rollout's phase, stage, percent, backups and audit log")
    .argument('<rolloutId>')
    .option('--json', 'print as JSON')
    .action(async (rolloutId: string, options: { json?: boolean }, command: Command) => {
      const out = writer(command);
      await withConnections(async (connections) => {
        const view = await readRollout(connections, rolloutId);
        const url = workflowUiUrl(connections.env, rolloutId);
        out(options.json ? `${JSON.stringify({ ...view, url })}\n` : formatRollout(view, url));
      });
    });
}
