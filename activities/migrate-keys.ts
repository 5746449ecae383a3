import { ApplicationFailure, Context } from '@temporalio/activity';
import { z } from 'zod';
import {
  KeyMigrationVerificationError,
  MissingBackupError,
  keyMigrationProgressSchema,
  runKeyMigration,
  type KeyMigrationProgress,
  type KeyMigrationReport,
} from '../db/key-migration';
import { ROLLOUT_ID } from '../db/table-backups';
import type { ActivityDeps } from './activity-deps';
import { heartbeatWhile } from './heartbeat-while';

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
  const parsedInput = inputSchema.safeParse(input);
  if (!parsedInput.success) {
    throw ApplicationFailure.nonRetryable(
      `invalid key migration input: ${parsedInput.error.issues.map((i) => i.message).join('; ')}`,
      'InvalidInput',
    );
  }
  const { rolloutId, targetBatchMs, maxBatchSize } = parsedInput.data;
  const context = Context.current();
  const details: unknown = context.info.heartbeatDetails;
  const resumed = keyMigrationProgressSchema.safeParse(details);
  if (details !== undefined && !resumed.success) {
    deps.logger.warn(
      { rolloutId },
      'key migration heartbeat details unreadable; starting from the beginning',
    );
  }
  // Sent with every heartbeat, so an attempt that dies before its first batch keeps the previous checkpoint.
  let latest: KeyMigrationProgress | undefined = resumed.success ? resumed.data : undefined;
  if (latest) deps.logger.info({ rolloutId, step: latest.step }, 'key migration resuming');
  try {
    const report = await heartbeatWhile(
      () =>
        runKeyMigration(deps.db, {
          rolloutId,
          targetBatchMs,
          maxBatchSize,
          resume: latest,
          signal: context.cancellationSignal,
          onProgress: (progress) => {
            latest = progress;
            context.heartbeat(progress);
          },
        }),
      5_000,
      () => latest,
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
