import type { RolloutPlan } from '../src/plan/rollout-plan';
import { boundedText } from './operator-request';
import type { RolloutStatus } from './rollout-status';

/** The Temporal UI shows current details as Markdown at the top of the workflow page; keep it a glance. */
export const MAX_CURRENT_DETAILS_CHARS = 4_000;

const OUTCOME_LINE: Record<RolloutStatus['outcome'], string> = {
  running: 'running',
  completed: '✅ completed',
  failed: '❌ failed',
  rolled_back: '↩️ rolled back',
  cancelled: '⛔ cancelled and rolled back',
  rollback_failed: '🚨 rollback failed: an operator must act',
};

/** Markdown-safe single line: no table pipes, backticks or line breaks from operator or gate text. */
function inline(text: string, max = 200): string {
  // Line breaks (U+2028/9 too) and Markdown's table, code, emphasis, strike, link, HTML, entity and escape
  // characters become spaces (a bare `(` is harmless once `[` and `]` are gone).
  const flat = text.replace(/[\r\n\u2028\u2029]+/g, ' ').replace(/[|`*_~<>[\]&\\]/g, ' ');
  return boundedText(flat, max);
}

function lastEvent(status: RolloutStatus, kinds: readonly string[]): string | null {
  for (let i = status.events.length - 1; i >= 0; i--) {
    const event = status.events[i]!;
    if (kinds.includes(event.kind)) return event.message;
  }
  return null;
}

function stageLine(status: RolloutStatus): string {
  const total = status.stages.length;
  if (status.stageIndex === null)
    return `not started (${total} stages: ${status.stages.map((s) => `${s.percent}%`).join(' → ')})`;
  const reached = `${status.stageIndex + 1}/${total}`;
  if (status.outcome === 'completed') return `${reached} at ${status.percent}% (all stages done)`;
  // Once a rollback set the flag back, the stage says where the ramp stopped, not where the flag is.
  if (status.phase === 'rollback' || status.outcome !== 'running')
    return `stopped at ${reached} (${status.stages[status.stageIndex]?.percent ?? '?'}%); flag now ${status.percent}%`;
  return `${reached} at ${status.percent}%`;
}

/**
 * The workflow's current details for the Temporal UI (`setCurrentDetails`): what an operator needs at a glance,
 * operator fields first, every stage number 1-based, and nothing long (reports are in the status query and
 * the audit log). Pure, so it is unit tested directly and re-rendered whenever the status changes.
 *
 * @example
 * renderCurrentDetails(status); // "**Rollout** r-42 · flag `unified_config` (default/development)\n\n| Phase | ramp | …"
 */
export function renderCurrentDetails(status: RolloutStatus): string {
  const rows: [string, string][] = [
    ['Outcome', OUTCOME_LINE[status.outcome]],
    ['Phase', status.phase],
    ['Stage', stageLine(status)],
    ['Flag percent (confirmed)', `${status.percent}%`],
  ];
  if (status.paused && status.outcome === 'running') {
    const why = lastEvent(status, [
      'paused',
      'flag_drift',
      'gate_inconclusive',
      'gate_failed',
      'operator_pause',
    ]);
    rows.push(['⏸ Paused', `by ${inline(status.pausedBy ?? 'unknown')}${why ? `: ${inline(why)}` : ''}`]);
    rows.push(['Next step', 'resume (update resume-rollout) or roll back (update rollback-rollout)']);
  }
  if (status.awaitingApprovalStage != null) {
    const stage = status.stages[status.awaitingApprovalStage - 1];
    rows.push([
      '✋ Awaiting approval',
      `stage ${status.awaitingApprovalStage}/${status.stages.length}${stage ? ` (${stage.percent}%)` : ''}: send approve-stage`,
    ]);
  }
  if (status.soakEndsAt !== null) rows.push(['Soak ends', status.soakEndsAt]);
  if (status.phase === 'rollback' || status.outcome !== 'running') {
    if (status.error) rows.push(['Rollback cause', inline(status.error, 400)]);
  }
  if (status.rollbackFailures.length > 0) {
    rows.push([
      'Left undone',
      inline(status.rollbackFailures.map((f) => `${f.phase}: ${f.error}`).join('; '), 400),
    ]);
  }
  if (status.operatorAction) rows.push(['Operator action', inline(status.operatorAction, 400)]);
  if (status.ignored.count > 0) {
    const last = status.ignored.last[status.ignored.last.length - 1];
    rows.push([
      'Ignored messages',
      `${status.ignored.count}${last ? `, last: ${inline(last.message)}` : ''}`,
    ]);
  }

  const lines = [
    `**Rollout** ${inline(status.rolloutId)} · flag ${inline(status.flag)} (${inline(status.project)}/${inline(status.environment)})`,
    '',
    '| | |',
    '| --- | --- |',
    ...rows.map(([name, value]) => `| ${name} | ${value} |`),
  ];
  const gates = status.gates;
  if (gates) {
    lines.push('', `**Gates, stage ${gates.stage}**: ${gates.outcome}`, '');
    for (const tally of gates.gates.slice(0, 10)) {
      const m = tally.last[tally.last.length - 1];
      const measured = m
        ? `${m.verdict}, value ${m.value ?? 'none'} vs threshold ${m.threshold ?? 'none'}, sample ${m.sample ?? 'none'}`
        : 'no measurement';
      lines.push(`- ${inline(tally.gate, 80)}: ${measured} (${tally.measured} measured)`);
    }
  }
  const recent = status.events.slice(-3).map((e) => `- ${e.at.slice(11, 19)} ${inline(e.message)}`);
  if (recent.length > 0) lines.push('', '**Recent**', '', ...recent);
  const text = lines.join('\n');
  if (text.length <= MAX_CURRENT_DETAILS_CHARS) return text;
  // Cut whole lines (every outside text in it is already clean), so no table row or surrogate pair is split.
  const kept: string[] = [];
  let length = 1;
  for (const line of text.split('\n')) {
    if (length + line.length + 1 > MAX_CURRENT_DETAILS_CHARS) break;
    kept.push(line);
    length += line.length + 1;
  }
  return `${kept.join('\n')}\n…`;
}

/** The static summary set when the rollout starts (the UI shows it in the list and the header). */
export function rolloutSummary(plan: RolloutPlan): string {
  const stages = plan.stages.map((s) => `${s.percent}%`).join(' → ');
  return inline(`${plan.flag} in ${plan.unleash.project}/${plan.unleash.environment}: ${stages}`, 200);
}
