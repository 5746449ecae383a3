import { boundedCalls, calls } from '../activity-proxies';
import type { SagaStep } from '../saga-runner';
import type { PhaseContext } from './phase-context';

/**
 * SPEC §5 phase 5: the model catalogue upserted from the fixture. Compensation: the rows it inserted
 * removed and those it updated restored, keeping rows changed since.
 */
export function modelSeedingPhase({ input, plan, status, journal }: PhaseContext): SagaStep {
  const rolloutId = input.rolloutId;
  return {
    name: 'seed-models',
    enabled: plan.phases.seedModels,
    compensate: async () => {
      const undone = await boundedCalls.rollbackModelSeeding({ rolloutId });
      await journal.record(
        { dedupeKey: 'seeding-rolled-back', kind: 'seeding_rolled_back', details: { ...undone } },
        `model catalogue: removed ${undone.removed.length}, restored ${undone.restored.length}, kept ${undone.kept.length} changed since`,
      );
    },
    run: async () => {
      const report = await calls.seedModels({ rolloutId });
      const counts = {
        inserted: report.inserted.length,
        updated: report.updated.length,
        unchanged: report.unchanged.length,
      };
      status.seeding = counts;
      await journal.recordReport(
        'seed-models',
        { dedupeKey: 'models-seeded', kind: 'models_seeded' },
        report,
        `model catalogue: ${counts.inserted} inserted, ${counts.updated} updated, ${counts.unchanged} unchanged`,
      );
    },
  };
}
