import type { PreflightReport } from '../activities/preflight';
import type { KeyMigrationReport } from '../db/key-migration';
import type { SeedingReport } from '../db/model-catalog-seeding';
import type { TemplateMigrationReport } from '../db/template-migration';
import type { BackupResult } from '../db/table-backups';
import type { RolloutPlan, RolloutPlanInput } from '../src/plan/rollout-plan';

/** Phases in SPEC §5 order; the data phases of later issues slot in between backup and ramp. */
export type RolloutPhase =
  | 'preflight'
  | 'backup'
  | 'migrate-keys'
  | 'migrate-templates'
  | 'seed-models'
  | 'ramp'
  | 'rollback'
  | 'complete';
export type RolloutOutcome = 'running' | 'completed' | 'failed' | 'rolled_back' | 'cancelled';

export interface RolloutInput {
  /** Also the workflow id; becomes part of backup table names, so it follows `ROLLOUT_ID`. */
  rolloutId: string;
  plan: RolloutPlan | RolloutPlanInput;
  /** Who started it (user@host), recorded in the audit log. */
  requestedBy: string;
}

export interface RolloutEvent {
  at: string;
  kind: string;
  message: string;
}

/** What the `status` query returns; also the workflow's result once it ends. */
export interface RolloutStatus {
  rolloutId: string;
  flag: string;
  project: string;
  environment: string;
  phase: RolloutPhase;
  outcome: RolloutOutcome;
  stages: { percent: number; soakMs: number; approval: boolean }[];
  /** Index into `stages` of the stage last confirmed, or null before the ramp. */
  stageIndex: number | null;
  /** The percent Unleash last confirmed. */
  percent: number;
  soakEndsAt: string | null;
  preflight: PreflightReport | null;
  backups: BackupResult[];
  keyMigration: KeyMigrationReport | null;
  templateMigration: TemplateMigrationReport | null;
  seeding: SeedingReport | null;
  /** Held by an operator before the next stage or phase. */
  paused: boolean;
  pausedBy: string | null;
  /** Index of the stage waiting for an operator's approval, or null. */
  awaitingApproval: number | null;
  events: RolloutEvent[];
  error: string | null;
}
