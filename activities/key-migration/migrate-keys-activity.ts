import { ApplicationFailure } from '@temporalio/activity';
import { z } from 'zod';
import {
  KeyMigrationVerificationError,
  keyMigrationProgressSchema,
  runKeyMigration,
  type KeyMigrationReport,
} from './key-migration';
import { ROLLOUT_ID } from '../../src/plan/rollout-id';
import { MissingBackupError } from '../backup/table-backups';
import type { ActivityDeps } from '../activity-deps';
import { parseActivityInput, runResumable } from '../shared/resumable-phase';

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
 * // { renamed: 97_697, discarded: 19_608, batches: 112, maxBatchMs: 214, ... }
 */
export async function migrateKeys(deps: ActivityDeps, input: MigrateKeysInput): Promise<KeyMigrationReport> {
  const { rolloutId, targetBatchMs, maxBatchSize } = parseActivityInput(inputSchema, input, 'key migration');
  try {
    const report = await runResumable(
      { what: 'key migration', rolloutId, logger: deps.logger, progressSchema: keyMigrationProgressSchema },
      (run) => runKeyMigration(deps.db, { rolloutId, targetBatchMs, maxBatchSize, ...run }),
    );
    deps.logger.info(
      {
        rolloutId,
        renamed: report.renamed,
        discarded: report.discarded,
        batches: report.batches,
        maxBatchMs: report.maxBatchMs,
        constraint: report.constraint.outcome,
      },
      'key migration verified',
    );
    return report;
  } catch (error) {
    if (error instanceof MissingBackupError)
      throw ApplicationFailure.nonRetryable(error.message, 'MissingBackup');
    if (error instanceof KeyMigrationVerificationError) {
      throw ApplicationFailure.nonRetryable(
        error.message,
        'KeyMigrationVerificationFailed',
        error.verification,
      );
    }
    throw error;
  }
}
