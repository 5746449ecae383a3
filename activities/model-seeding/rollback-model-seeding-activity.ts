import { rollbackModelSeeding as undoSeeding, type SeedingRollbackReport } from './model-catalog-seeding';
import type { ActivityDeps } from '../activity-deps';

export interface RollbackModelSeedingInput {
  rolloutId: string;
}

/**
 * Compensation of the seeding phase: removes the rows it inserted and restores those it updated, keeping
 * and reporting any row written after the seeding. Safe to run when seeding never ran, and any number of
 * times; a seeding attempt that arrives afterwards refuses to run.
 *
 * @example
 * const report = await rollbackModelSeeding(deps, { rolloutId: 'r-20261126-ab12' });
 */
export async function rollbackModelSeeding(
  deps: ActivityDeps,
  input: RollbackModelSeedingInput,
): Promise<SeedingRollbackReport> {
  const report = await undoSeeding(deps.db, input.rolloutId);
  deps.logger.info(
    {
      rolloutId: input.rolloutId,
      removed: report.removed.length,
      restored: report.restored.length,
      kept: report.kept,
      alreadyAbsent: report.alreadyAbsent.length,
    },
    'model seeding rolled back',
  );
  return report;
}
