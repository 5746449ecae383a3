import type { ActivityDeps } from '../activity-deps';
import { runRestoreActivity, type RestoreSkipped } from '../shared/restore-activity';
import { TEMPLATE_TABLE } from './template-migration';
import { restoreTemplates as restoreFromBackup, type TemplateRestoreReport } from './template-restore';

export interface RestoreTemplatesInput {
  rolloutId: string;
}

export type RestoreTemplatesResult = TemplateRestoreReport | RestoreSkipped<typeof TEMPLATE_TABLE>;

/**
 * Compensation of the template migration: puts every template the migration rewrote back to its backed-up
 * `llm_preferences`, keeps and lists every row written after the backup, verifies the checksum of the
 * untouched rows against the backup, and stops any late migration attempt of the rollout. Idempotent;
 * without a backup (the migration refuses to run without one) there is nothing to undo.
 *
 * @example
 * const result = await restoreTemplates(deps, { rolloutId: 'r-20261126-ab12' });
 * if (!('skipped' in result)) console.log(result.restored, result.kept.rows);
 */
export async function restoreTemplates(
  deps: ActivityDeps,
  input: RestoreTemplatesInput,
): Promise<RestoreTemplatesResult> {
  return runRestoreActivity(deps, {
    rolloutId: input.rolloutId,
    table: TEMPLATE_TABLE,
    restore: restoreFromBackup,
    done: {
      message: 'prompt templates restored from backup',
      fields: (report) => ({ restored: report.restored, untouchedRows: report.untouchedRows }),
    },
  });
}
