import { dataPhases, restores } from '../activity-proxies';
import type { SagaStep } from '../saga-runner';
import type { PhaseContext } from './phase-context';
import { restoreFromBackup } from './restore-compensation';

/**
 * SPEC §5 phase 4: prompt templates to snake_case, invalid ones quarantined and left untouched.
 * Compensation: every template the migration rewrote back from the backup, keeping writes made after it.
 */
export function templateMigrationPhase(context: PhaseContext): SagaStep {
  const { input, plan, status, journal, waits } = context;
  const rolloutId = input.rolloutId;
  return {
    name: 'migrate-templates',
    enabled: plan.phases.migrateTemplates,
    compensate: () =>
      restoreFromBackup(context, {
        table: 'prompt_templates',
        keys: { dedupeKey: 'templates-restored', kind: 'templates_restored' },
        restore: () => restores.restoreTemplates({ rolloutId }),
        describe: (restored) => `${restored.restored} back`,
      }),
    run: async () => {
      const report = await waits.watched(() =>
        dataPhases.migrateTemplates({ rolloutId, onInvalid: plan.templates.onInvalid }),
      );
      // The item lists stay in Postgres (quarantine, ledger) and the audit log; the status keeps counts.
      const { conflicts: _c, unknownFields: _u, quarantine: _q, ...summary } = report;
      status.templateMigration = summary;
      await journal.recordReport(
        'migrate-templates',
        { dedupeKey: 'templates-migrated', kind: 'templates_migrated' },
        report,
        `prompt_templates: ${report.migrated} migrated, ${report.unchanged} unchanged, ${report.quarantined} quarantined (left untouched), ${report.conflictsTotal} spelling conflicts`,
      );
    },
  };
}
