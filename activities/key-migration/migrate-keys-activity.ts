import { ApplicationFailure } from '@temporalio/activity';
import { z } from 'zod';
import { ROLLOUT_ID } from '../../src/plan/rollout-id';
import type { ActivityDeps } from '../activity-deps';
import { MissingBackupError } from '../backup/table-backups';
import { rowsMigratedTotals } from '../metrics/rows-migrated';
import { parseActivityInput, runPhaseActivity } from '../shared/resumable-phase';
import {
  KEY_MIGRATION,
  KeyMigrationVerificationError,
  keyMigrationProgressSchema,
  runKeyMigration,
  type KeyMigrationProgress,
  type KeyMigrationReport,
} from './key-migration';

/** Rows the migration wrote so far (renamed plus duplicates removed), for `rollout_rows_migrated_total`. */
const rowsWritten = (progress?: KeyMigrationProgress) =>
  progress ? progress.totals.renamed + progress.totals.discarded : 0;

const inputSchema = z.object({
  rolloutId: z.string().regex(ROLLOUT_ID, 'rollout id must be a valid rollout id'),
  targetBatchMs: z.number().int().min(10).max(10_000).optional(),
  maxBatchSize: z.number().int().min(100).max(1_000_000).optional(),
});

export type MigrateKeysInput = z.input<typeof inputSchema>;

/**
 * Phase 3: renames runtime_config keys to snake_case, dedupes (most recent row wins), makes (key, user_id)
 * unique and verifies the result against the backup. Resumes from its heartbeat details after a crash, so
 * no batch is applied twice (and each batch is idempotent anyway). Lock conflicts are retried inside;
 * other errors propagate for Temporal to retry; a missing backup or a failed verification fails for good.
 *
 * @example
 * const report = await migrateKeys(deps, { rolloutId: 'r-20261126-ab12' });
 * report.renamed; // live rows whose key the migration changed
 */
export async function migrateKeys(deps: ActivityDeps, input: MigrateKeysInput): Promise<KeyMigrationReport> {
  const { rolloutId, targetBatchMs, maxBatchSize } = parseActivityInput(inputSchema, input, KEY_MIGRATION);
  return runPhaseActivity(deps.logger, {
    what: KEY_MIGRATION,
    rolloutId,
    progressSchema: keyMigrationProgressSchema,
    run: async (run) => {
      const counted = await rowsMigratedTotals(deps.db, rolloutId, 'runtime_config', rowsWritten(run.resume));
      return runKeyMigration(deps.db, {
        rolloutId,
        targetBatchMs,
        maxBatchSize,
        ...run,
        onProgress: (progress) => {
          run.onProgress(progress);
          counted(rowsWritten(progress));
        },
      });
    },
    done: {
      message: 'key migration verified',
      fields: (report) => ({
        renamed: report.renamed,
        discarded: report.discarded,
        batches: report.batches,
        maxBatchMs: report.maxBatchMs,
        constraint: report.constraint.outcome,
      }),
    },
    finalFailure: (error) => {
      if (error instanceof MissingBackupError)
        return ApplicationFailure.nonRetryable(error.message, 'MissingBackup');
      if (error instanceof KeyMigrationVerificationError) {
        return ApplicationFailure.nonRetryable(
          error.message,
          'KeyMigrationVerificationFailed',
          error.verification,
        );
      }
      return undefined;
    },
  });
}
