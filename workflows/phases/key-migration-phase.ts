import { dataPhases, restores } from '../activity-proxies';
import type { SagaStep } from '../saga-runner';
import type { PhaseContext } from './phase-context';
import { restoreFromBackup } from './restore-compensation';

/**
 * SPEC §5 phase 3: renames `runtime_config` keys to snake_case, dedupes, adds the unique constraint.
 * Compensation: `runtime_config` back from its backup, keeping writes made after it.
 */
export function keyMigrationPhase(context: PhaseContext): SagaStep {
  const { input, plan, status, journal, waits } = context;
  const rolloutId = input.rolloutId;
  return {
    name: 'migrate-keys',
    enabled: plan.phases.migrateKeys,
    compensate: () =>
      restoreFromBackup(context, {
        table: 'runtime_config',
        keys: { dedupeKey: 'keys-restored', kind: 'keys_restored' },
        restore: () => restores.restoreTable({ rolloutId, table: 'runtime_config' }),
        describe: (restored) => `${restored.restored} rows back, ${restored.reinserted} reinserted`,
      }),
    run: async () => {
      const report = await waits.watched(() => dataPhases.migrateKeys({ rolloutId }));
      status.keyMigration = report;
      await journal.recordReport(
        'migrate-keys',
        { dedupeKey: 'keys-migrated', kind: 'keys_migrated' },
        report,
        `runtime_config: ${report.renamed} keys renamed, ${report.discarded} duplicates discarded (kept in ${report.discardedTable}), unique (key, user_id) in place`,
      );
    },
  };
}
