import { ApplicationFailure, Context } from '@temporalio/activity';
import { ROLLOUT_ID } from '../../src/plan/rollout-id';
import { findBackupRecord } from '../backup/table-backups';
import { TEMPLATE_TABLE } from './template-migration';
import {
  restoreTemplates as restoreFromBackup,
  TemplateRestoreVerificationError,
  type TemplateRestoreReport,
} from './template-restore';
import type { ActivityDeps } from '../activity-deps';
import { isFinalVerificationFailure, restoreProgressSchema } from '../shared/restore-progress';
import { runResumable } from '../shared/resumable-phase';
import { RestorePreconditionError } from '../shared/restore-precondition-error';

export interface RestoreTemplatesInput {
  rolloutId: string;
}

export type RestoreTemplatesResult =
  TemplateRestoreReport | { table: 'prompt_templates'; skipped: 'no-backup' };

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
  if (!ROLLOUT_ID.test(input.rolloutId)) {
    throw ApplicationFailure.nonRetryable(`invalid rollout id "${input.rolloutId}"`, 'InvalidInput');
  }
  if (!(await findBackupRecord(deps.db, input.rolloutId, TEMPLATE_TABLE))) {
    deps.logger.info(
      { rolloutId: input.rolloutId },
      'no backup of prompt_templates recorded; nothing to restore',
    );
    return { table: TEMPLATE_TABLE, skipped: 'no-backup' };
  }
  try {
    const report = await runResumable(
      {
        what: `restore of ${TEMPLATE_TABLE}`,
        rolloutId: input.rolloutId,
        logger: deps.logger,
        progressSchema: restoreProgressSchema,
      },
      (run) =>
        restoreFromBackup(deps.db, {
          rolloutId: input.rolloutId,
          resumeFrom: run.resume?.cursor,
          onProgress: run.onProgress,
        }),
    );
    deps.logger.info(
      {
        rolloutId: input.rolloutId,
        restored: report.restored,
        kept: {
          insertedAfterBackup: report.kept.insertedAfterBackup,
          writtenAfterBackup: report.kept.writtenAfterBackup,
          deletedAfterBackup: report.kept.deletedAfterBackup,
        },
        untouchedRows: report.untouchedRows,
      },
      'prompt templates restored from backup',
    );
    return report;
  } catch (error) {
    if (error instanceof RestorePreconditionError)
      throw ApplicationFailure.nonRetryable(error.message, 'RestorePreconditionFailed');
    if (
      error instanceof TemplateRestoreVerificationError &&
      isFinalVerificationFailure(error.kind, Context.current().info.attempt)
    ) {
      throw ApplicationFailure.nonRetryable(error.message, 'RestoreVerificationFailed');
    }
    throw error;
  }
}
