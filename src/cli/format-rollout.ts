import { formatDuration } from '../plan/duration';
import type { RolloutView } from './read-rollout';

function stageLine(view: RolloutView): string | undefined {
  const status = view.status;
  if (!status) return undefined;
  return status.stages
    .map((stage, index) => {
      const reached = status.stageIndex !== null && index <= status.stageIndex;
      const mark = reached ? (index === status.stageIndex ? '▶' : '✓') : '·';
      return `${mark} ${stage.percent}%${stage.soakMs > 0 ? ` (soak ${formatDuration(stage.soakMs)})` : ''}`;
    })
    .join('  ');
}

/** Human output of `rollout status`: where the rollout is, its stages, backups and audit log. */
export function formatRollout(view: RolloutView, uiUrl: string): string {
  const lines: string[] = [];
  const status = view.status;
  lines.push(`rollout ${view.rolloutId}  [${view.execution}]`);
  if (status) {
    lines.push(`  flag        ${status.flag} (${status.project}/${status.environment})`);
    lines.push(`  phase       ${status.phase}   outcome ${status.outcome}   percent ${status.percent}%`);
    lines.push(`  stages      ${stageLine(view)}`);
    if (status.soakEndsAt) lines.push(`  soak ends   ${status.soakEndsAt}`);
    if (status.paused) lines.push(`  PAUSED      by ${status.pausedBy} (rollout resume ${view.rolloutId})`);
    if (status.awaitingApproval !== null) {
      const stage = status.stages[status.awaitingApproval];
      lines.push(
        `  WAITING     for approval of stage ${status.awaitingApproval + 1} (${stage?.percent}%): rollout approve ${view.rolloutId}`,
      );
    }
    for (const backup of status.backups) {
      lines.push(
        `  backup      ${backup.sourceTable} → ${backup.backupTable}: ${backup.rowCount} rows, checksum ${backup.checksum}`,
      );
    }
    if (status.error) lines.push(`  error       ${status.error}`);
  } else if (view.statusUnavailable) {
    lines.push(`  status      unavailable: ${view.statusUnavailable}`);
  }
  lines.push(`  temporal    ${uiUrl}`);
  lines.push('  audit log');
  if (view.audit.length === 0) lines.push('    (no decisions recorded yet)');
  for (const event of view.audit) {
    lines.push(`    ${event.at.toISOString()}  ${event.kind.padEnd(18)} by ${event.actor}`);
  }
  return `${lines.join('\n')}\n`;
}
