import { MIN_POSTGRES_MAJOR } from '../../activities/preflight/inspect-rollout';
import { formatDuration } from '../plan/duration';
import type { RolloutPreview } from './rollout-preview';

const count = (n: number): string => n.toLocaleString('en-US');
const plural = (n: number, one: string, many = `${one}s`): string => `${count(n)} ${n === 1 ? one : many}`;
const user = (userId: string | null): string => (userId === null ? '(global)' : `user ${userId}`);

function yesNo(value: boolean | null, yes: string, no: string): string {
  if (value === null) return 'unknown';
  return value ? yes : no;
}

/**
 * Human output of `rollout plan`: the plan, what each phase would change and whether `rollout start` can
 * run. Shows keys, ids and counts only, never a configuration value.
 */
export function formatPreview(preview: RolloutPreview): string {
  const lines: string[] = [];
  const { plan } = preview;
  lines.push(`rollout plan ${plan.source}: dry run, nothing was changed (read-only transaction)`);
  lines.push(`  flag        ${plan.flag} in ${plan.project}/${plan.environment}`);
  lines.push(
    `  stages      ${plan.stages
      .map(
        (s) =>
          `${s.percent}%${s.soakMs > 0 ? ` (soak ${formatDuration(s.soakMs)})` : ''}${s.approval ? ' [approval]' : ''}`,
      )
      .join(' → ')}`,
  );
  const phases = [
    'backup',
    plan.phases.migrateKeys && 'migrate keys',
    plan.phases.migrateTemplates && 'migrate templates',
    plan.phases.seedModels && 'seed models',
    'flag ramp',
  ].filter(Boolean);
  lines.push(`  phases      ${phases.join(' → ')}`);

  lines.push('');
  lines.push(
    `PostgreSQL    ${preview.postgres.version} ${preview.postgres.supported ? '(ok)' : `(TOO OLD: ${MIN_POSTGRES_MAJOR} or later needed)`}`,
  );
  lines.push('backup tables');
  for (const t of preview.tables) {
    lines.push(`  ${t.table.padEnd(18)} ${t.exists ? plural(t.rows ?? 0, 'row') : 'MISSING'}`);
  }

  const keys = preview.keys;
  if (keys) {
    lines.push('');
    lines.push(`keys (runtime_config, ${plural(keys.rows, 'row')})`);
    lines.push(
      `  to rename          ${plural(keys.keysToRename, 'row')} (${plural(keys.distinctKeysToRename, 'key spelling')})`,
    );
    for (const e of keys.renameExamples) lines.push(`    ${e.from} → ${e.to}  (${plural(e.rows, 'row')})`);
    const moreRenames = keys.distinctKeysToRename - keys.renameExamples.length;
    if (moreRenames > 0) lines.push(`    … and ${plural(moreRenames, 'more spelling')}`);
    lines.push(`  duplicate groups   ${count(keys.duplicateGroups)} after normalization`);
    lines.push(
      `  rows to discard    ${count(keys.rowsToDiscard)} (most recently updated row of each group is kept; discarded rows are kept for rollback)`,
    );
    for (const d of keys.discardExamples) {
      lines.push(
        `    #${d.id} ${d.key}  group ${d.group.key} / ${user(d.group.userId)}  → #${d.winnerId} wins`,
      );
    }
    const moreDiscards = keys.rowsToDiscard - keys.discardExamples.length;
    if (moreDiscards > 0) lines.push(`    … and ${plural(moreDiscards, 'more row')}`);
    const index =
      keys.uniqueIndex === 'invalid'
        ? ' (an invalid index left by an interrupted build will be rebuilt)'
        : '';
    lines.push(
      `  unique constraint  ${keys.constraintExists ? 'exists' : 'missing (built by the migration)'}${index}`,
    );
  } else if (!plan.phases.migrateKeys) {
    lines.push('', 'keys          skipped (phases.migrateKeys: false)');
  }

  const templates = preview.templates;
  if (templates) {
    lines.push('');
    lines.push(`templates (prompt_templates, ${plural(templates.templates, 'template')})`);
    lines.push(`  to migrate         ${count(templates.toMigrate)}`);
    lines.push(`  already snake_case ${count(templates.alreadyNormal)}`);
    const fate =
      templates.onInvalid === 'defaults'
        ? 'invalid fields dropped, recorded in quarantine'
        : 'quarantined and left untouched';
    lines.push(
      `  invalid            ${count(templates.invalid)} (onInvalid: ${templates.onInvalid}: ${fate})`,
    );
    for (const t of templates.invalidTemplates) lines.push(`    #${t.templateId}: ${t.issues.join('; ')}`);
    const moreInvalid = templates.invalid - templates.invalidTemplates.length;
    if (moreInvalid > 0) lines.push(`    … and ${plural(moreInvalid, 'more template')}`);
    if (templates.conflicts > 0)
      lines.push(`  spelling conflicts ${count(templates.conflicts)} (the snake_case value wins; reported)`);
    if (templates.unknownFields > 0)
      lines.push(`  unknown fields     ${count(templates.unknownFields)} (preserved; reported)`);
  } else if (!plan.phases.migrateTemplates) {
    lines.push('', 'templates     skipped (phases.migrateTemplates: false)');
  }

  const models = preview.models;
  if (models) {
    lines.push('');
    lines.push(`models (${models.fixture}, ${plural(models.models, 'model')})`);
    lines.push(
      `  to insert ${count(models.inserted.length)}, to update ${count(models.updated.length)}, unchanged ${count(models.unchanged)}`,
    );
    if (models.inserted.length > 0) lines.push(`    insert ${models.inserted.join(', ')}`);
    if (models.updated.length > 0) lines.push(`    update ${models.updated.join(', ')}`);
  } else if (!plan.phases.seedModels) {
    lines.push('', 'models        skipped (phases.seedModels: false)');
  }

  const u = preview.unleash;
  lines.push('');
  lines.push('Unleash');
  if (u.error !== null) {
    lines.push(`  unreachable: ${u.error}`);
  } else {
    lines.push(`  project      ${u.project}: ${yesNo(u.projectExists, 'exists', 'MISSING')}`);
    if (u.projectExists)
      lines.push(`  environment  ${u.environment}: ${yesNo(u.environmentExists, 'enabled', 'NOT ENABLED')}`);
    if (u.environmentExists) {
      const state =
        u.flagExists === true
          ? `exists, ${u.enabled ? 'on' : 'off'}, ${u.percent === null ? 'no rollout strategy yet' : `rollout at ${u.percent}%`}`
          : 'does not exist yet (created by the first stage)';
      lines.push(`  flag         ${u.flag}: ${state}`);
      lines.push(
        `  foreign      ${
          u.foreignStrategies.length === 0
            ? 'none'
            : u.foreignStrategies.map((s) => `${s.title || s.name} (${s.id})`).join(', ')
        }`,
      );
    }
  }

  lines.push('');
  if (preview.blocking.length === 0) {
    lines.push('ready: no blocking problem found (rollout start can run this plan)');
  } else {
    lines.push(`BLOCKING: rollout start would fail (${plural(preview.blocking.length, 'problem')}):`);
    for (const problem of preview.blocking) lines.push(`  - ${problem}`);
  }
  return `${lines.join('\n')}\n`;
}
