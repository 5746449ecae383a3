import { backupPhase } from './phases/backup-phase';
import { keyMigrationPhase } from './phases/key-migration-phase';
import { modelSeedingPhase } from './phases/model-seeding-phase';
import type { PhaseContext } from './phases/phase-context';
import { preflightPhase } from './phases/preflight-phase';
import { rampPhase } from './phases/ramp-phase';
import type { RampProgress } from './rollout-status';
import { templateMigrationPhase } from './phases/template-migration-phase';
import type { SagaStep } from './saga-runner';

/**
 * The rollout's phases in SPEC §5 order. The saga runs them forward and compensates the ones that started in
 * reverse, so the ramp, being last, is undone first: the flag goes to 0 % before any data is restored.
 */
export function rolloutPhases(context: PhaseContext, ramp: RampProgress): SagaStep[] {
  return [
    preflightPhase(context),
    backupPhase(context),
    keyMigrationPhase(context),
    templateMigrationPhase(context),
    modelSeedingPhase(context),
    rampPhase(context, ramp),
  ];
}
