import { ApplicationFailure } from '@temporalio/activity';
import type { BackupTable } from '../../src/plan/rollout-plan';
import type { ActivityDeps } from '../activity-deps';
import { runRestoreActivity, type RestoreSkipped } from '../shared/restore-activity';
import { KEY_TABLE } from './key-migration';
import { restoreKeys, type KeyRestoreReport } from './key-restore';

export interface RestoreTableInput {
  rolloutId: string;
  table: BackupTable;
}

export type RestoreTableResult = KeyRestoreReport | RestoreSkipped<BackupTable>;

/**
 * Rolls runtime_config back to the rollout's backup (compensation of the backup and key migration phases):
 * rows the migration changed or deleted come back exactly, rows written after the backup are kept and listed,
 * and the checksum of the untouched rows is verified equal to the backup's. Idempotent; without a backup
 * there is nothing to undo. Other tables are restored by their own phase's rollback.
 *
 * @example
 * const result = await restoreTable(deps, { rolloutId: 'r-20261126-ab12', table: 'runtime_config' });
 * if (!('skipped' in result)) console.log(result.restored, result.kept.rows);
 */
export async function restoreTable(
  deps: ActivityDeps,
  input: RestoreTableInput,
): Promise<RestoreTableResult> {
  if (input.table !== KEY_TABLE) {
    throw ApplicationFailure.nonRetryable(`no restore is defined for table ${input.table}`, 'InvalidInput');
  }
  return runRestoreActivity(deps, {
    rolloutId: input.rolloutId,
    table: input.table,
    restore: restoreKeys,
    done: {
      message: 'table restored from backup',
      fields: (report) => ({
        restored: report.restored,
        reinserted: report.reinserted,
        droppedConstraints: report.droppedConstraints,
      }),
    },
  });
}
