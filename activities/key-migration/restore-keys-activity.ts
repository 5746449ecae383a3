import { ApplicationFailure, Context } from '@temporalio/activity';
import { KEY_UNIQUE_CONSTRAINT, NORMALIZATION_BYPASS_SETTING, discardedRowsTableName } from './key-migration';
import { ROLLOUT_ID } from '../../src/plan/rollout-id';
import { findBackupRecord } from '../backup/table-backups';
import {
  restoreTable as restoreFromBackup,
  RestoreVerificationError,
  type RestoreReport,
  type RestoreSpec,
} from './key-restore';
import type { BackupTable } from '../../src/plan/rollout-plan';
import type { ActivityDeps } from '../activity-deps';
import { isFinalVerificationFailure, restoreProgressSchema } from '../shared/restore-progress';
import { runResumable } from '../shared/resumable-phase';
import { RestorePreconditionError } from '../shared/restore-precondition-error';

export interface RestoreTableInput {
  rolloutId: string;
  table: BackupTable;
}

export type RestoreTableResult = RestoreReport | { table: BackupTable; skipped: 'no-backup' };

type TableSpec = Omit<RestoreSpec, 'rolloutId' | 'table' | 'resumeFrom' | 'onProgress'>;

/** What each data phase changes in place, per table; tables whose phase has its own rollback are absent. */
const RESTORE_SPECS: Partial<Record<BackupTable, (rolloutId: string) => TableSpec>> = {
  runtime_config: (rolloutId) => ({
    migratedColumns: ['key'],
    discardedTable: discardedRowsTableName(rolloutId),
    addedConstraints: [KEY_UNIQUE_CONSTRAINT],
    bypassSetting: NORMALIZATION_BYPASS_SETTING,
    describeColumns: ['key', 'user_id'],
  }),
};

/**
 * Rolls a table back to the rollout's backup (compensation of the backup and key migration phases): rows the
 * migration changed or deleted come back exactly, rows written after the backup are kept and listed, and the
 * checksum of the untouched rows is verified equal to the backup's. Idempotent; without a backup (the phase
 * never ran, since it refuses to run without one) there is nothing to undo.
 *
 * @example
 * const result = await restoreTable(deps, { rolloutId: 'r-20261126-ab12', table: 'runtime_config' });
 * if (!('skipped' in result)) console.log(result.restored, result.kept.rows);
 */
export async function restoreTable(
  deps: ActivityDeps,
  input: RestoreTableInput,
): Promise<RestoreTableResult> {
  if (!ROLLOUT_ID.test(input.rolloutId)) {
    throw ApplicationFailure.nonRetryable(`invalid rollout id "${input.rolloutId}"`, 'InvalidInput');
  }
  const specFor = RESTORE_SPECS[input.table];
  if (!specFor) {
    throw ApplicationFailure.nonRetryable(`no restore is defined for table ${input.table}`, 'InvalidInput');
  }
  if (!(await findBackupRecord(deps.db, input.rolloutId, input.table))) {
    deps.logger.info(
      { rolloutId: input.rolloutId, table: input.table },
      'no backup recorded; nothing to restore',
    );
    return { table: input.table, skipped: 'no-backup' };
  }
  try {
    const report = await runResumable(
      {
        what: `restore of ${input.table}`,
        rolloutId: input.rolloutId,
        logger: deps.logger,
        progressSchema: restoreProgressSchema,
      },
      (run) =>
        restoreFromBackup(deps.db, {
          rolloutId: input.rolloutId,
          table: input.table,
          ...specFor(input.rolloutId),
          resumeFrom: run.resume?.cursor,
          onProgress: run.onProgress,
        }),
    );
    deps.logger.info(
      {
        rolloutId: input.rolloutId,
        table: input.table,
        restored: report.restored,
        reinserted: report.reinserted,
        kept: {
          insertedAfterBackup: report.kept.insertedAfterBackup,
          writtenAfterBackup: report.kept.writtenAfterBackup,
          deletedAfterBackup: report.kept.deletedAfterBackup,
        },
        droppedConstraints: report.droppedConstraints,
      },
      'table restored from backup',
    );
    return report;
  } catch (error) {
    if (error instanceof RestorePreconditionError)
      throw ApplicationFailure.nonRetryable(error.message, 'RestorePreconditionFailed');
    if (
      error instanceof RestoreVerificationError &&
      isFinalVerificationFailure(error.kind, Context.current().info.attempt)
    ) {
      throw ApplicationFailure.nonRetryable(error.message, 'RestoreVerificationFailed');
    }
    throw error;
  }
}
