import { backupPhase } from '../../workflows/phases/backup-phase';
import { keyMigrationPhase } from '../../workflows/phases/key-migration-phase';
import { modelSeedingPhase } from '../../workflows/phases/model-seeding-phase';
import type { PhaseContext } from '../../workflows/phases/phase-context';
import { preflightPhase } from '../../workflows/phases/preflight-phase';
import { rampPhase } from '../../workflows/phases/ramp-phase';
import { templateMigrationPhase } from '../../workflows/phases/template-migration-phase';
import type { RampProgress } from '../../workflows/rollout-status';
import type { SagaStep } from '../../workflows/saga-runner';

/**
 * A deliberately changed `workflows/rollout-phases.ts` for the replay test's probe (bundled in its place): the
 * model seeding moved before the template migration, the kind of harmless-looking reorder that breaks every
 * rollout running on the old code. Replaying a history of the real order must report a nondeterminism error.
 */
export function rolloutPhases(context: PhaseContext, ramp: RampProgress): SagaStep[] {
  return [
    preflightPhase(context),
    backupPhase(context),
    keyMigrationPhase(context),
    modelSeedingPhase(context),
    templateMigrationPhase(context),
    rampPhase(context, ramp),
  ];
}
