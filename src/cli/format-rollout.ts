import { formatDuration } from '../plan/duration';
import type { RolloutStatus } from '../../workflows/rollout-status';
import { formatProgressLine } from './format-progress';
import { formatGateLine } from './live-gates';
import type { RolloutView } from './read-rollout';

/** Outcomes after which `error` is what started a rollback (an operator's reason, a gate, a failure). */
const ROLLED_BACK = new Set(['rolled_back', 'cancelled', 'rollback_failed']);

/**
 * One mark per stage: `✓` done, `▶` the stage the ramp is at (soaking, or waiting to go on), `✗` the stage a
 * rollout that did not complete stopped at, `·` not reached. A completed rollout has every stage done.
 *
 * @example
 * stageMarks({ stages: [{ percent: 10 }, { percent: 100 }], stageIndex: 1, outcome: 'completed' });
 * // '✓ 10%  ✓ 100%'
 */
export function stageMarks(status: Pick<RolloutStatus, 'stages' | 'stageIndex' | 'outcome'>): string {
  return status.stages
    .map((stage, index) => {
      const at = status.stageIndex;
      let mark = '·';
      if (at !== null && index < at) mark = '✓';
      else if (at !== null && index === at) {
        mark = status.outcome === 'completed' ? '✓' : status.outcome === 'running' ? '▶' : '✗';
      }
      return `${mark} ${stage.percent}%${stage.soakMs > 0 ? ` (soak ${formatDuration(stage.soakMs)})` : ''}`;
    })
    .join('  ');
}

/**
 * The label of `status.error`: once a rollback has started (or ended) the text is its cause, e.g. the
 * operator's reason; only a rollout that failed with nothing to undo shows it as an error.
 */
export function errorLabel(status: Pick<RolloutStatus, 'phase' | 'outcome'>): string {
  return status.phase === 'rollback' || ROLLED_BACK.has(status.outcome) ? 'rollback cause' : 'error';
}

/** Human output of `rollout status`: where the rollout is, its stages, backups and audit log. */
export function formatRollout(view: RolloutView, uiUrl: string): string {
  const lines: string[] = [];
  const status = view.status;
  // Labels in a 12-column gutter (scripts and tests match it); a longer label just pushes its line.
  const field = (label: string, text: string) => lines.push(`  ${label.padEnd(11)} ${text}`);
  lines.push(`rollout ${view.rolloutId}  [${view.execution}]`);
  if (status) {
    field('flag', `${status.flag} (${status.project}/${status.environment})`);
    field('phase', `${status.phase}   outcome ${status.outcome}   percent ${status.percent}%`);
    field('stages', stageMarks(status));
    if (status.soakEndsAt) field('soak ends', status.soakEndsAt);
    if (status.paused) field('PAUSED', `by ${status.pausedBy} (rollout resume ${view.rolloutId})`);
    if (status.awaitingApprovalStage != null) {
      const stage = status.stages[status.awaitingApprovalStage - 1];
      field(
        'WAITING',
        `for approval of stage ${status.awaitingApprovalStage} (${stage?.percent}%): rollout approve ${view.rolloutId}`,
      );
    }
    for (const backup of status.backups) {
      field(
        'backup',
        `${backup.sourceTable} → ${backup.backupTable}: ${backup.rowCount} rows, checksum ${backup.checksum}`,
      );
    }
    if (status.error) field(errorLabel(status), status.error);
    for (const failure of status.rollbackFailures ?? [])
      field('NOT UNDONE', `${failure.phase}: ${failure.error}`);
    if (status.operatorAction) field('to do', status.operatorAction);
    // A signal cannot be answered: one the rollout refused shows here, with why (an update says so at once).
    if (status.ignored.count > 0) {
      field('IGNORED', `${status.ignored.count} operator message(s) not acted on; the newest:`);
      for (const message of status.ignored.last.slice(-3))
        lines.push(`    ${message.at}  ${message.message}`);
    }
  } else if (view.statusUnavailable) {
    field('status', `unavailable: ${view.statusUnavailable}`);
  }
  if (view.progress) field('progress', formatProgressLine(view.progress));
  // Live while a gated soak runs (the activity's heartbeat); else the gates as of their last decision.
  if (view.liveGates && view.liveGates.length > 0) {
    for (const gate of view.liveGates) field('gate (live)', formatGateLine(gate));
  } else if (status?.gates) {
    for (const tally of status.gates.gates) {
      field(
        `gate s${status.gates.stage}`,
        `${formatGateLine({ ...tally, last: tally.last[tally.last.length - 1] ?? null })} (stage ${status.gates.outcome})`,
      );
    }
  }
  field('temporal', uiUrl);
  lines.push('  audit log');
  if (view.audit.length === 0) lines.push('    (no decisions recorded yet)');
  for (const event of view.audit) {
    lines.push(`    ${event.at.toISOString()}  ${event.kind.padEnd(18)} by ${event.actor}`);
  }
  return `${lines.join('\n')}\n`;
}
