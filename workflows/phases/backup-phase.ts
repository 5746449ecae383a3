import { dataPhases } from '../activity-proxies';
import type { SagaStep } from '../saga-runner';
import type { PhaseContext } from './phase-context';

/**
 * SPEC §5 phase 2: a verified backup of each table the plan names. The backups are what the data phases'
 * compensations restore from; they stay after a rollback, so this phase has no compensation of its own.
 */
export function backupPhase({ input, plan, status, journal, waits }: PhaseContext): SagaStep {
  return {
    name: 'backup',
    run: async () => {
      for (const table of plan.backup.tables) {
        const result = await waits.watched(() =>
          dataPhases.backupTable({ rolloutId: input.rolloutId, table }),
        );
        status.backups = [...status.backups.filter((b) => b.sourceTable !== result.sourceTable), result];
        await journal.recordReport(
          'backup',
          { dedupeKey: `backup-${table}`, kind: 'backup_verified' },
          result,
          `${result.reused ? 'reused' : 'made'} ${result.backupTable}: ${result.rowCount} rows, checksum verified`,
        );
      }
    },
  };
}
