import type { Command } from 'commander';
import { ROLLOUT_FLAG, ROLLOUT_PERCENT, ROLLOUT_PHASE } from '../temporal/search-attributes';
import { withConnections, writer } from './cli-context';
import { UsageError } from './exit-codes';

export function registerListCommand(program: Command): void {
  program
    .command('list')
    .description('list recent rollouts (newest first) from Temporal')
    .option('--flag <flag>', 'only rollouts of this flag')
    .option('--limit <n>', 'at most this many', '20')
    .option('--json', 'print as JSON')
    .action(async (options: { flag?: string; limit: string; json?: boolean }, command: Command) => {
      const out = writer(command);
      const limit = Number(options.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
        throw new UsageError('--limit must be a whole number from 1 to 1000');
      if (options.flag !== undefined && !/^[a-zA-Z0-9._-]{1,100}$/.test(options.flag))
        throw new UsageError('--flag is not a valid flag name');
      const query = [
        'WorkflowType = "RolloutWorkflow"',
        ...(options.flag ? [`RolloutFlag = "${options.flag}"`] : []),
      ].join(' AND ');
      await withConnections(async ({ client }) => {
        const rows: Record<string, unknown>[] = [];
        for await (const info of client.workflow.list({ query })) {
          rows.push({
            rolloutId: info.workflowId,
            status: info.status.name,
            flag: info.typedSearchAttributes.get(ROLLOUT_FLAG) ?? null,
            phase: info.typedSearchAttributes.get(ROLLOUT_PHASE) ?? null,
            percent: info.typedSearchAttributes.get(ROLLOUT_PERCENT) ?? null,
            startedAt: info.startTime.toISOString(),
          });
          if (rows.length >= limit) break;
        }
        if (options.json) return out(`${JSON.stringify(rows)}\n`);
        if (rows.length === 0) return out('no rollouts\n');
        for (const row of rows) {
          out(
            `${String(row.rolloutId).padEnd(20)} ${String(row.status).padEnd(11)} ${String(row.flag).padEnd(28)} ${String(row.phase).padEnd(10)} ${String(row.percent)}%  ${String(row.startedAt)}\n`,
          );
        }
      });
    });
}
