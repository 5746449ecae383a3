import { ApplicationFailure } from '@temporalio/activity';
import { backupTable as copyAndVerify, BackupIntegrityError, type BackupResult } from './table-backups';
import type { BackupTable } from '../../src/plan/rollout-plan';
import type { ActivityDeps } from '../activity-deps';
import { heartbeatWhile } from '../shared/heartbeat-while';

export interface BackupTableInput {
  rolloutId: string;
  table: BackupTable;
}

/** Backs up one table for a rollout (verified count and checksum); a retry reuses a verified backup. */
export async function backupTable(deps: ActivityDeps, input: BackupTableInput): Promise<BackupResult> {
  const result = await heartbeatWhile(() => copyAndVerify(deps.db, input.rolloutId, input.table)).catch(
    (error: unknown) => {
      if (error instanceof BackupIntegrityError)
        throw ApplicationFailure.nonRetryable(error.message, error.name);
      throw error;
    },
  );
  deps.logger.info({ rolloutId: input.rolloutId, ...result }, 'backup verified');
  return result;
}
