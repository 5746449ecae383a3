import { ApplicationFailure } from '@temporalio/activity';
import { z } from 'zod';
import { ROLLOUT_ID } from '../../src/plan/rollout-id';
import type { ActivityDeps } from '../activity-deps';
import { rowsMigratedTotals } from '../metrics/rows-migrated';
import { MissingBackupError } from '../backup/table-backups';
import { parseActivityInput, runPhaseActivity } from '../shared/resumable-phase';
import {
  OnInvalidMismatchError,
  TEMPLATE_MIGRATION,
  TemplateMigrationRolledBackError,
  runTemplateMigration,
  templateMigrationProgressSchema,
  type TemplateMigrationReport,
} from './template-migration';

const inputSchema = z.object({
  rolloutId: z.string().regex(ROLLOUT_ID, 'rollout id must be a valid rollout id'),
  // Never defaulted to 'defaults': only a plan that says so drops invalid fields (SPEC §5 phase 4).
  onInvalid: z.enum(['quarantine', 'defaults']).default('quarantine'),
  batchSize: z.number().int().min(1).max(50_000).optional(),
});

export type MigrateTemplatesInput = z.input<typeof inputSchema>;

/**
 * Phase 4: rewrites every prompt template's `llm_preferences` to snake_case and validates it; invalid
 * templates are quarantined with their zod issues and left untouched (or, with `onInvalid: 'defaults'`,
 * stripped of their invalid fields only). Resumes from its heartbeat details after a crash, so no batch is
 * applied twice (and each batch is idempotent anyway). Lock conflicts are retried inside; other errors
 * propagate for Temporal to retry; a missing backup, a rolled-back rollout or a changed `onInvalid` fail for
 * good. The report caps its lists and never holds a template body.
 *
 * @example
 * const report = await migrateTemplates(deps, { rolloutId: 'r-20261126-ab12' });
 * // With template 3 holding { temperature: 7 }:
 * report.quarantine; // [{ templateId: 3, action: 'left_untouched', issues: ['temperature: must be at most 2'], ... }]
 */
export async function migrateTemplates(
  deps: ActivityDeps,
  input: MigrateTemplatesInput,
): Promise<TemplateMigrationReport> {
  const { rolloutId, onInvalid, batchSize } = parseActivityInput(inputSchema, input, TEMPLATE_MIGRATION);
  return runPhaseActivity(deps.logger, {
    what: TEMPLATE_MIGRATION,
    rolloutId,
    progressSchema: templateMigrationProgressSchema,
    run: async (run) => {
      const counted = await rowsMigratedTotals(
        deps.db,
        rolloutId,
        'prompt_templates',
        run.resume?.totals.written ?? 0,
      );
      return runTemplateMigration(deps.db, {
        rolloutId,
        onInvalid,
        batchSize,
        ...run,
        onProgress: (progress) => {
          run.onProgress(progress);
          counted(progress.totals.written);
        },
      });
    },
    done: {
      message: 'template migration done',
      fields: (report) => ({
        onInvalid,
        migrated: report.migrated,
        unchanged: report.unchanged,
        quarantined: report.quarantined,
        invalidFieldsDropped: report.invalidFieldsDropped,
        conflicts: report.conflictsTotal,
        unknownFields: report.unknownFieldsTotal,
        batches: report.batches,
        maxBatchMs: report.maxBatchMs,
      }),
    },
    finalFailure: (error) => {
      if (error instanceof MissingBackupError)
        return ApplicationFailure.nonRetryable(error.message, 'MissingBackup');
      if (error instanceof TemplateMigrationRolledBackError || error instanceof OnInvalidMismatchError)
        return ApplicationFailure.nonRetryable(error.message, error.name);
      return undefined;
    },
  });
}
