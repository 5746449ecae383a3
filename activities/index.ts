import type { ActivityDeps } from './activity-deps';
import { backupTable, type BackupTableInput } from './backup-table';
import { claimRollout, type ClaimRolloutInput } from './claim-rollout';
import { migrateKeys, type MigrateKeysInput } from './migrate-keys';
import { migrateTemplates, type MigrateTemplatesInput } from './migrate-templates';
import { preflight } from './preflight';
import { recordEvent, type RecordEventInput } from './record-event';
import { restoreTable, type RestoreTableInput } from './restore-table';
import { restoreTemplates, type RestoreTemplatesInput } from './restore-templates';
import { rollbackModelSeeding, type RollbackModelSeedingInput } from './rollback-model-seeding';
import { seedModels, type SeedModelsInput } from './seed-models';
import { setFlagPercent, type SetFlagPercentInput } from './set-flag-percent';
import type { RolloutPlan } from '../src/plan/rollout-plan';

export type { ActivityDeps } from './activity-deps';

/**
 * Every side effect of a rollout, bound to explicit dependencies. The worker registers the result; the
 * workflow sees only its type.
 *
 * @example
 * const worker = await Worker.create({ activities: createActivities({ db, unleash, logger }), ... });
 */
export function createActivities(deps: ActivityDeps) {
  return {
    claimRollout: (input: ClaimRolloutInput) => claimRollout(deps, input),
    preflight: (plan: RolloutPlan) => preflight(deps, plan),
    backupTable: (input: BackupTableInput) => backupTable(deps, input),
    setFlagPercent: (input: SetFlagPercentInput) => setFlagPercent(deps, input),
    recordEvent: (input: RecordEventInput) => recordEvent(deps, input),
    migrateKeys: (input: MigrateKeysInput) => migrateKeys(deps, input),
    restoreTable: (input: RestoreTableInput) => restoreTable(deps, input),
    migrateTemplates: (input: MigrateTemplatesInput) => migrateTemplates(deps, input),
    restoreTemplates: (input: RestoreTemplatesInput) => restoreTemplates(deps, input),
    seedModels: (input: SeedModelsInput) => seedModels(deps, input),
    rollbackModelSeeding: (input: RollbackModelSeedingInput) => rollbackModelSeeding(deps, input),
  };
}

export type RolloutActivities = ReturnType<typeof createActivities>;
