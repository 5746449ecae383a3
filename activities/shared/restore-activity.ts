import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/schema';
import { ROLLOUT_ID } from '../../src/plan/rollout-id';
import type { ActivityDeps } from '../activity-deps';
import { findBackupRecord } from '../backup/table-backups';
import type { RestoreOptions } from './restore-from-backup';
import type { KeptWrites } from './restore-verification';
import { RestorePreconditionError } from './restore-precondition-error';
import { isFinalVerificationFailure, restoreProgressSchema } from './restore-progress';
import { RestoreVerificationError } from './restore-verification-error';
import { runPhaseActivity } from './resumable-phase';

/** What a restore activity answers when the rollout has no backup of the table: the phase never ran. */
export interface RestoreSkipped<T extends string> {
  table: T;
  skipped: 'no-backup';
}

/** Errors no retry can fix: something the restore needs is gone, or the verification failed for good. */
function finalRestoreFailure(error: unknown): ApplicationFailure | undefined {
  if (error instanceof RestorePreconditionError)
    return ApplicationFailure.nonRetryable(error.message, 'RestorePreconditionFailed');
  if (
    error instanceof RestoreVerificationError &&
    isFinalVerificationFailure(error.kind, Context.current().info.attempt)
  ) {
    return ApplicationFailure.nonRetryable(error.message, 'RestoreVerificationFailed');
  }
  return undefined;
}

/**
 * The activity around a restore from backup (the compensation of a phase that rewrites `table` in place):
 * refuses a malformed rollout id, answers `skipped` without a backup (the phase refuses to run without one,
 * so there is nothing to undo), else runs the restore resumably and logs what came back and what was kept.
 *
 * @example
 * return runRestoreActivity(deps, { rolloutId, table: 'prompt_templates', restore: restoreTemplates, done });
 */
export async function runRestoreActivity<T extends string, R extends { kept: KeptWrites<unknown> }>(
  deps: ActivityDeps,
  input: {
    rolloutId: string;
    table: T;
    restore: (db: Kysely<Database>, options: RestoreOptions) => Promise<R>;
    /** Logged once restored, with the rollout id, the table and the counts of kept writes. */
    done: { message: string; fields: (report: R) => Record<string, unknown> };
  },
): Promise<R | RestoreSkipped<T>> {
  const { rolloutId, table } = input;
  if (!ROLLOUT_ID.test(rolloutId)) {
    throw ApplicationFailure.nonRetryable(`invalid rollout id "${rolloutId}"`, 'InvalidInput');
  }
  if (!(await findBackupRecord(deps.db, rolloutId, table))) {
    deps.logger.info({ rolloutId, table }, 'no backup recorded; nothing to restore');
    return { table, skipped: 'no-backup' };
  }
  return runPhaseActivity(deps.logger, {
    what: `restore of ${table}`,
    rolloutId,
    progressSchema: restoreProgressSchema,
    run: (run) =>
      input.restore(deps.db, { rolloutId, resumeFrom: run.resume?.cursor, onProgress: run.onProgress }),
    done: {
      message: input.done.message,
      fields: (report) => {
        const { insertedAfterBackup, writtenAfterBackup, deletedAfterBackup } = report.kept;
        return {
          table,
          ...input.done.fields(report),
          kept: { insertedAfterBackup, writtenAfterBackup, deletedAfterBackup },
        };
      },
    },
    finalFailure: finalRestoreFailure,
  });
}
