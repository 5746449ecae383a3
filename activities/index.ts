import type { ActivityDeps } from './activity-deps';
import { backupTable, type BackupTableInput } from './backup/backup-table-activity';
import { claimRollout, type ClaimRolloutInput } from './rollout-record/claim-rollout-activity';
import { migrateKeys, type MigrateKeysInput } from './key-migration/migrate-keys-activity';
import {
  migrateTemplates,
  type MigrateTemplatesInput,
} from './template-migration/migrate-templates-activity';
import { preflight } from './preflight/preflight-activity';
import { recordEvent, type RecordEventInput } from './rollout-record/record-event-activity';
import { readCancelRequest } from './rollout-record/read-cancel-request-activity';
import { restoreTable, type RestoreTableInput } from './key-migration/restore-keys-activity';
import {
  restoreTemplates,
  type RestoreTemplatesInput,
} from './template-migration/restore-templates-activity';
import {
  rollbackModelSeeding,
  type RollbackModelSeedingInput,
} from './model-seeding/rollback-model-seeding-activity';
import { seedModels, type SeedModelsInput } from './model-seeding/seed-models-activity';
import { setFlagPercent, type SetFlagPercentInput } from './flag/set-flag-percent-activity';
import { writeFlagPercent, type WriteFlagPercentInput } from './flag/write-flag-percent-activity';
import { checkFlagDrift, type CheckFlagDriftInput } from './flag/check-flag-drift-activity';
import { runStageGates, type RunStageGatesInput } from './gates/run-stage-gates-activity';
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
    writeFlagPercent: (input: WriteFlagPercentInput) => writeFlagPercent(deps, input),
    checkFlagDrift: (input: CheckFlagDriftInput) => checkFlagDrift(deps, input),
    runStageGates: (input: RunStageGatesInput) => runStageGates(deps, input),
    recordEvent: (input: RecordEventInput) => recordEvent(deps, input),
    readCancelRequest: () => readCancelRequest(),
    migrateKeys: (input: MigrateKeysInput) => migrateKeys(deps, input),
    restoreTable: (input: RestoreTableInput) => restoreTable(deps, input),
    migrateTemplates: (input: MigrateTemplatesInput) => migrateTemplates(deps, input),
    restoreTemplates: (input: RestoreTemplatesInput) => restoreTemplates(deps, input),
    seedModels: (input: SeedModelsInput) => seedModels(deps, input),
    rollbackModelSeeding: (input: RollbackModelSeedingInput) => rollbackModelSeeding(deps, input),
  };
}

export type RolloutActivities = ReturnType<typeof createActivities>;
