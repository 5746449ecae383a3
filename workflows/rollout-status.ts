import type { PreflightReport } from '../activities/preflight/preflight-activity';
import type { KeyMigrationReport } from '../activities/key-migration/key-migration';
import type { TemplateMigrationReport } from '../activities/template-migration/template-migration';
import type { BackupResult } from '../activities/backup/table-backups';
import type { RollbackScope, RolloutPlan, RolloutPlanInput } from '../src/plan/rollout-plan';
import type { GateTally } from '../activities/gates/stage-gate-tally';
import type { RolloutStrategySnapshot } from '../src/unleash/strategy-drift';

/** The phases in SPEC §5 order (see `rolloutPhases`), then `rollback` or `complete` at the end. */
export type RolloutPhase =
  | 'preflight'
  | 'backup'
  | 'migrate-keys'
  | 'migrate-templates'
  | 'seed-models'
  | 'ramp'
  | 'rollback'
  | 'complete';
export type DataPhase = 'migrate-keys' | 'migrate-templates' | 'seed-models';
export type RolloutOutcome =
  | 'running'
  | 'completed'
  | 'failed'
  | 'rolled_back'
  | 'cancelled'
  /** A compensation could not finish: see `rollbackFailures` and the runbook. */
  | 'rollback_failed';

export interface RolloutInput {
  /** Also the workflow id; becomes part of backup table names, so it follows `ROLLOUT_ID`. */
  rolloutId: string;
  plan: RolloutPlan | RolloutPlanInput;
  /** Who started it (user@host), recorded in the audit log. */
  requestedBy: string;
  /**
   * Set only by the workflow itself when it continues as new (its history grew too large): where the previous
   * run was. Never set it when starting a rollout.
   */
  carried?: CarriedState;
}

export interface RolloutEvent {
  at: string;
  kind: string;
  message: string;
}

/** The template migration report without its item lists (those are in Postgres: the quarantine and ledger). */
export type TemplateMigrationSummary = Omit<
  TemplateMigrationReport,
  'conflicts' | 'unknownFields' | 'quarantine'
>;

export interface SeedingSummary {
  inserted: number;
  updated: number;
  unchanged: number;
}

/** A compensation that could not finish: what is left undone, and why. */
export interface RollbackFailure {
  phase: RolloutPhase;
  error: string;
}

/** Operator messages the workflow refused to act on (bad payload, or not applicable when it arrived). */
export interface IgnoredMessages {
  count: number;
  /** The most recent few, newest last. */
  last: RolloutEvent[];
}

/**
 * What the `status` query returns; also the workflow's result once it ends. Every list is capped and every
 * string that can come from outside is bounded, so its JSON stays under {@link STATUS_MAX_BYTES} whatever
 * operators send (a unit test fills every field to its limit).
 */
export interface RolloutStatus {
  rolloutId: string;
  flag: string;
  project: string;
  environment: string;
  phase: RolloutPhase;
  outcome: RolloutOutcome;
  stages: { percent: number; soakMs: number; approval: boolean }[];
  /** Index into `stages` (0-based) of the stage last confirmed, or null before the ramp; see `stage`. */
  stageIndex: number | null;
  /** The stage last confirmed, 1-based as people count (stage 2 of 3), or null before the ramp. */
  stage?: number | null;
  /** The percent Unleash last confirmed. */
  percent: number;
  soakEndsAt: string | null;
  preflight: PreflightReport | null;
  backups: BackupResult[];
  keyMigration: KeyMigrationReport | null;
  templateMigration: TemplateMigrationSummary | null;
  seeding: SeedingSummary | null;
  /** Held by an operator before the next stage or phase. */
  paused: boolean;
  pausedBy: string | null;
  /** The stage (1-based) waiting for an operator's approval, or null. */
  awaitingApprovalStage: number | null;
  /**
   * The gates of the stage judged last, as of their last decision (passed, failed, inconclusive): per gate its
   * counts and newest few measurements, details shortened. Absent until a gated stage has been judged.
   */
  gates?: StageGatesStatus | null;
  events: RolloutEvent[];
  ignored: IgnoredMessages;
  error: string | null;
  /** Compensations that failed; non-empty only with outcome `rollback_failed`. */
  rollbackFailures: RollbackFailure[];
  /** What an operator should do next, when the rollout needs one (e.g. after `rollback_failed`). */
  operatorAction: string | null;
  /** How many times this rollout continued as new to keep its history small. */
  continuedAsNew: number;
  /** Who asked Temporal to cancel the rollout (the identity on the cancel request), once one did. */
  cancelledBy?: string | null;
}

/** The gate summary of one stage in the status (see {@link RolloutStatus.gates}). */
export interface StageGatesStatus {
  /** 1-based, as in the audit log. */
  stage: number;
  outcome: 'passed' | 'failed' | 'inconclusive';
  gates: GateTally[];
}

/** Longest measurement detail kept in the status's gate summary (the audit log keeps the whole detail). */
export const MAX_STATUS_GATE_DETAIL_CHARS = 120;

/** The bound on the status query's JSON (and so on the workflow result). */
export const STATUS_MAX_BYTES = 128 * 1024;
/** Events kept in the status; the audit log in Postgres keeps all of them. */
export const MAX_STATUS_EVENTS = 30;
/** Longest event message kept in the status (the audit log has the full, already bounded, details). */
export const MAX_EVENT_MESSAGE_CHARS = 400;
export const MAX_IGNORED_SHOWN = 5;
/** Longest description of a refused message (in the status and the audit log). */
export const MAX_IGNORED_MESSAGE_CHARS = 300;

/** The small answer of every operator update: enough to print a line, never the whole status. */
export interface OperatorAnswer {
  rolloutId: string;
  phase: RolloutPhase;
  outcome: RolloutOutcome;
  percent: number;
  stageIndex: number | null;
  paused: boolean;
  pausedBy: string | null;
  /** 1-based, as in the status. */
  awaitingApprovalStage: number | null;
}

/** A rollback asked for (by an operator, a failed gate or an escalation), not yet begun. */
export interface RollbackRequest {
  actor: string;
  reason: string;
  /** What the operator asked it to undo; absent (a gate, an escalation, an operator who named none): the plan's. */
  scope?: RollbackScope;
}

/** The operator-controls state a continued run takes over. */
export interface CarriedControls {
  paused: boolean;
  pausedBy: string | null;
  approved: number[];
  rollbackRequest: RollbackRequest | null;
}

/**
 * Where the ramp is: the stage to go on with, and the soak left once its percent is confirmed. The workflow
 * hands it to the next run when it continues as new.
 */
export interface RampProgress {
  at: CarriedState['ramp'];
}

/**
 * Everything a run hands to the next when it continues as new: the status, the operator state, and where to
 * pick up (the first phase not finished, the stage and the soak left, or the compensations still to run).
 */
export interface CarriedState {
  status: RolloutStatus;
  controls: CarriedControls;
  /** Phases whose work finished (their compensations are registered). */
  finished: RolloutPhase[];
  /** The phase that was running (its compensation is registered); it reruns from its start, idempotently. */
  current: RolloutPhase | null;
  /**
   * In the ramp: the stage to go on with, and the soak left in ms once its percent is confirmed (null: the
   * stage has not been set yet, so its checkpoint, approval and flag change come first).
   */
  ramp: {
    index: number;
    soakRemainingMs: number | null;
    /** Gated stages: how many times the stage's gates were started (each round has its own audit keys). */
    gateRound?: number;
    /** The strategy as the rollout last wrote it (the drift guard's baseline), once a stage was written. */
    baseline?: RolloutStrategySnapshot;
  } | null;
  /** Set once a rollback began: its cause, the compensations not yet run, and the outcome if all succeed. */
  rollback: CarriedRollback | null;
  /** Refused messages not yet written to the audit log (bounded). */
  unrecordedIgnored: string[];
}

export type RollbackKind = 'failure' | 'cancelled' | 'requested';

export interface CarriedRollback {
  cause: string;
  kind: RollbackKind;
  /**
   * What it undoes: `full` every phase that started; `flag` the ramp (and a data phase it interrupted), leaving
   * finished data phases migrated. Absent in state carried by a run from before scopes were recorded.
   */
  scope?: RollbackScope;
  remaining: RolloutPhase[];
  /** `rolled_back`, `cancelled` or `failed` (nothing to undo); `rollback_failed` replaces it if a step fails. */
  outcome: RolloutOutcome;
}
