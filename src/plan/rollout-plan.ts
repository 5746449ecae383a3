import { z } from 'zod';
import {
  gateDefinitionsSchema,
  toGateDefinitionInput,
  type GateDefinition,
  type GateDefinitions,
} from '../gates/gate-definition';
import { durationText, formatDuration, parseDuration } from './duration';
import { describeIssues } from '../validation/zod-issues';

/** Tables a rollout may back up; identifiers are never taken from a plan as free text. */
export const BACKUP_TABLES = ['runtime_config', 'prompt_templates', 'model_catalog'] as const;
export type BackupTable = (typeof BACKUP_TABLES)[number];

/** Unleash's own rule for flag names, narrowed to what is safe in a URL path and a log line. */
const FLAG_NAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,99}$/;
const UNLEASH_ID = /^[a-zA-Z0-9][a-zA-Z0-9_-]{0,99}$/;
const MAX_SOAK_MS = 7 * 24 * 3_600_000;
const MAX_STAGE_GATES = 20;

const DURATION_EXAMPLE = 'a duration such as 30s, 5m or 1h';

/**
 * A plan duration: a number with a unit (ms, s, m or h), converted to milliseconds. A bare number is refused
 * because it has no unit (`soak: 30` would otherwise be 30 ms, not the 30 s or 30 min the author meant); only
 * zero, which is the same in every unit, may be written without one.
 */
const duration = (what: string) =>
  // Typed as what a plan may contain, so a parsed plan (bare milliseconds) cannot pass for plan input;
  // every value is checked by the transform, which explains what is wrong.
  z
    .custom<string | 0>(() => true)
    .transform((value: unknown, ctx) => {
      const bare =
        typeof value === 'number' || (typeof value === 'string' && /^\s*[-+]?\d+(\.\d*)?\s*$/.test(value));
      let ms: number | undefined;
      if (bare) ms = Number(value) === 0 ? 0 : undefined;
      else if (typeof value === 'string') ms = parseDuration(value);
      if (ms === undefined) {
        const shown = typeof value === 'number' ? String(value) : (JSON.stringify(value) ?? String(value));
        ctx.addIssue({
          code: 'custom',
          message: bare
            ? `${what} must be ${DURATION_EXAMPLE}; a bare number has no unit (got ${shown}; units: ms, s, m, h)`
            : `${what} must be ${DURATION_EXAMPLE}, got ${shown.length > 60 ? `${shown.slice(0, 60)}…` : shown}`,
        });
        return z.NEVER;
      }
      if (ms > MAX_SOAK_MS) {
        ctx.addIssue({ code: 'custom', message: `${what} must be at most 7 days` });
        return z.NEVER;
      }
      return ms;
    });

/**
 * What happens when a human wait (a stage's approval, a pause for an inconclusive gate) lasts longer than
 * `escalateAfter`:
 * - `rollback`: roll back with the plan's `rollback.scope`, the cause naming the wait that expired;
 * - `hold`: keep waiting, but record the escalation (audit log, status) so an alert can page someone;
 * - `proceed`: continue as if an operator had answered `approve` (approval) or `resume` (inconclusive pause).
 */
export const ON_ESCALATION = ['rollback', 'hold', 'proceed'] as const;
export type OnEscalation = (typeof ON_ESCALATION)[number];
export const DEFAULT_ON_ESCALATION: OnEscalation = 'rollback';

const onEscalationSchema = z.enum(ON_ESCALATION, {
  error: `onEscalation must be one of ${ON_ESCALATION.join(', ')}`,
});

/**
 * How much a rollback undoes: `full` (the flag to 0 %, then every data phase restored from its backup) or
 * `flag` (the flag to 0 % only; migrated data stays, and both paths keep serving it).
 */
export const ROLLBACK_SCOPES = ['full', 'flag'] as const;
export type RollbackScope = (typeof ROLLBACK_SCOPES)[number];
export const DEFAULT_ROLLBACK_SCOPE: RollbackScope = 'full';

/** A duration that must be above zero (a wait bounded by zero would never wait). */
const positiveDuration = (what: string) =>
  duration(what).refine((ms) => ms > 0, `${what} must be longer than 0 (${DURATION_EXAMPLE})`);

const stageSchema = z
  .object({
    percent: z
      .number()
      .int('percent must be a whole number')
      .min(1, 'percent must be at least 1')
      .max(100, 'percent must be at most 100'),
    /** How long the stage holds before the next one; written with a unit (`30s`, `5m`), stored in ms. */
    soak: duration('soak').default(300_000),
    /** An operator must approve (`rollout approve`) before the flag moves to this stage. */
    approval: z.boolean().default(false),
    /**
     * Names of the plan's gates that measure during this stage's soak. Absent: every gate the plan defines
     * (none when the soak is 0); `[]`: none. See {@link stagePolicy}.
     */
    gates: z
      .array(z.string({ error: 'gate names are strings' }), {
        error: 'gates must be a list of gate names, e.g. gates: [errors, health]',
      })
      .max(MAX_STAGE_GATES, `a stage lists at most ${MAX_STAGE_GATES} gates`)
      .optional(),
    /** Bound on each human wait of this stage (approval, inconclusive gate); overrides the plan's. */
    escalateAfter: positiveDuration('escalateAfter').optional(),
    /** What happens when a wait of this stage outlasts `escalateAfter`; overrides the plan's. */
    onEscalation: onEscalationSchema.optional(),
  })
  .strict();

const DEFAULT_STAGES = [
  { percent: 10, soak: 300_000, approval: false },
  { percent: 50, soak: 300_000, approval: false },
  { percent: 100, soak: 0, approval: false },
] as const;

/** Fresh copies each time, so changing one parsed plan can never change the defaults of the next. */
export function defaultStages(): { percent: number; soak: number; approval: boolean }[] {
  return DEFAULT_STAGES.map((stage) => ({ ...stage }));
}

/** The percents of raw stage input that are whole numbers, by index; anything else is another rule's error. */
function rawPercents(stages: unknown): Map<number, number> {
  const found = new Map<number, number>();
  if (!Array.isArray(stages)) return found;
  stages.forEach((stage: unknown, index) => {
    const percent = (stage as { percent?: unknown } | null)?.percent;
    if (typeof percent === 'number' && Number.isInteger(percent)) found.set(index, percent);
  });
  return found;
}

const stagesSchema = z
  .array(stageSchema)
  .min(1, 'a plan needs at least one stage')
  .max(20, 'a plan has at most 20 stages')
  .superRefine(
    (_stages, ctx) => {
      // Checked on the raw values so the order problems are reported together with every other problem.
      const percents = rawPercents(ctx.value);
      for (const [index, percent] of percents) {
        const previous = percents.get(index - 1);
        if (previous !== undefined && percent <= previous) {
          ctx.addIssue({
            code: 'custom',
            path: [index, 'percent'],
            message: `stages must increase: ${percent} follows ${previous}`,
          });
        }
      }
      const lastIndex = Array.isArray(ctx.value) ? ctx.value.length - 1 : -1;
      const last = percents.get(lastIndex);
      if (last !== undefined && last !== 100) {
        ctx.addIssue({
          code: 'custom',
          path: [lastIndex, 'percent'],
          message: 'the last stage must be 100 percent',
        });
      }
    },
    { when: (payload) => Array.isArray(payload.value) },
  );

/** The plan is an object, and none of `keys` has a problem so far (so they hold parsed values). */
function isObjectWithout(
  payload: { value: unknown; issues: readonly { path?: readonly PropertyKey[] }[] },
  keys: readonly string[],
): boolean {
  return (
    typeof payload.value === 'object' &&
    payload.value !== null &&
    !Array.isArray(payload.value) &&
    !payload.issues.some((issue) => keys.includes(String(issue.path?.[0])))
  );
}

interface ParsedStage {
  percent: number;
  soak: number;
  approval: boolean;
  gates?: string[];
  escalateAfter?: number;
  onEscalation?: OnEscalation;
}

interface PlanGateView {
  stages: ParsedStage[];
  gates?: GateDefinitions;
  escalateAfter?: number;
  onEscalation?: OnEscalation;
}

/** The gate names a stage runs: its own list, else every gate when it soaks, else none. */
function gateNamesOf(plan: PlanGateView, stage: ParsedStage): string[] {
  return stage.gates ?? (stage.soak > 0 ? Object.keys(plan.gates ?? {}) : []);
}

function quoted(name: string): string {
  return JSON.stringify(name.length > 60 ? `${name.slice(0, 60)}…` : name);
}

/**
 * Stage gate lists name defined gates, once each, on stages that soak. Needs only the gate names, so it also
 * runs when a gate's definition is wrong (`gates` is then the input as written, still keyed by name).
 */
function checkStageGateNames(plan: PlanGateView, ctx: z.RefinementCtx): void {
  const gates = typeof plan.gates === 'object' && plan.gates !== null ? plan.gates : {};
  const defined = Object.keys(gates);
  plan.stages.forEach((stage, index) => {
    const listed = stage.gates;
    if (listed !== undefined) {
      const seen = new Set<string>();
      listed.forEach((name, at) => {
        if (!Object.hasOwn(gates, name)) {
          ctx.addIssue({
            code: 'custom',
            path: ['stages', index, 'gates', at],
            message:
              defined.length === 0
                ? `no gate named ${quoted(name)}: the plan defines no gates (add them under gates:)`
                : `no gate named ${quoted(name)}; the plan defines ${defined.map(quoted).join(', ')}`,
          });
        } else if (seen.has(name)) {
          ctx.addIssue({
            code: 'custom',
            path: ['stages', index, 'gates', at],
            message: `gate ${quoted(name)} is listed twice`,
          });
        }
        seen.add(name);
      });
      if (listed.length > 0 && stage.soak === 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['stages', index, 'gates'],
          message: 'gates measure during the soak, and this stage has none: give it a soak or drop its gates',
        });
      }
    }
  });
}

/** Each stage's gates can judge it: a compare gate has a baseline, the soak is long enough to pass. */
function checkStageGateFit(plan: PlanGateView, ctx: z.RefinementCtx): void {
  const gates = plan.gates ?? {};
  plan.stages.forEach((stage, index) => {
    const names = [...new Set(gateNamesOf(plan, stage))].filter((name) => Object.hasOwn(gates, name));
    for (const name of names) {
      const gate = gates[name]!;
      if (gate.provider === 'compare' && stage.percent === 100) {
        // At 100 % every user is on the canary path: the baseline gets no traffic and the gate could only
        // ever be inconclusive.
        const others = names.filter((other) => gates[other]!.provider !== 'compare');
        ctx.addIssue({
          code: 'custom',
          path: ['stages', index, 'gates'],
          message:
            `compare gate ${quoted(name)} has no baseline at 100 percent (every user is on the canary path); ` +
            `list this stage's gates without it, e.g. gates: [${others.join(', ')}]`,
        });
      }
      const needed = gate.interval * gate.consecutiveSuccesses;
      if (stage.soak > 0 && stage.soak < needed) {
        ctx.addIssue({
          code: 'custom',
          path: ['stages', index, 'soak'],
          message:
            `soak ${formatDuration(stage.soak)} is shorter than gate ${quoted(name)} needs to pass ` +
            `(interval ${formatDuration(gate.interval)} × consecutiveSuccesses ${gate.consecutiveSuccesses})`,
        });
      }
    }
  });
}

/** Escalation settings that would do nothing are refused rather than silently ignored. */
function checkEscalation(plan: PlanGateView, ctx: z.RefinementCtx): void {
  if (
    plan.onEscalation !== undefined &&
    plan.escalateAfter === undefined &&
    plan.stages.every((stage) => stage.escalateAfter === undefined)
  ) {
    ctx.addIssue({
      code: 'custom',
      path: ['onEscalation'],
      message:
        'onEscalation needs escalateAfter (here or on a stage): how long a wait lasts before it applies',
    });
  }
  plan.stages.forEach((stage, index) => {
    const hasWait = stage.approval || gateNamesOf(plan, stage).length > 0;
    if (stage.escalateAfter !== undefined && !hasWait) {
      ctx.addIssue({
        code: 'custom',
        path: ['stages', index, 'escalateAfter'],
        message: 'this stage has no human wait to escalate (no approval, no gates)',
      });
    }
    if (
      stage.onEscalation !== undefined &&
      stage.escalateAfter === undefined &&
      plan.escalateAfter === undefined
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['stages', index, 'onEscalation'],
        message: 'onEscalation needs escalateAfter (on this stage or the plan): how long a wait lasts first',
      });
    }
  });
}

/**
 * A rollout plan (YAML or JSON). Unknown keys are errors, so a misspelt or not-yet-supported option is
 * reported instead of silently ignored. Everything added for gates is optional and absent from the parsed plan
 * when not written, so a plan without gates parses to exactly what it did before gates existed.
 */
export const rolloutPlanSchema = z
  .object({
    flag: z.string().regex(FLAG_NAME, 'flag must be 1-100 characters of letters, digits, ".", "_" or "-"'),
    unleash: z
      .object({
        project: z.string().regex(UNLEASH_ID, 'project must be an Unleash project id').default('default'),
        environment: z.string().regex(UNLEASH_ID, 'environment must be an Unleash environment name'),
      })
      .strict(),
    backup: z
      .object({
        tables: z
          .array(
            z.enum(BACKUP_TABLES, { message: `backup tables must be among ${BACKUP_TABLES.join(', ')}` }),
          )
          .refine((tables) => new Set(tables).size === tables.length, 'backup tables must not repeat')
          .default(() => [...BACKUP_TABLES]),
      })
      .strict()
      .default(() => ({ tables: [...BACKUP_TABLES] })),
    /** Which data phases run, in SPEC §5 order after the backup. */
    phases: z
      .object({
        /** Rename runtime_config keys to snake_case and dedupe them (undone by restoring the backup). */
        migrateKeys: z.boolean().default(true),
        /** Rewrite prompt templates' llm_preferences to snake_case, validated (undone from the backup). */
        migrateTemplates: z.boolean().default(true),
        /** Upsert the model catalogue from db/fixtures/models.json (undone by rollback). */
        seedModels: z.boolean().default(true),
      })
      .strict()
      .default(() => ({ migrateKeys: true, migrateTemplates: true, seedModels: true })),
    templates: z
      .object({
        /**
         * An invalid template is quarantined and left untouched (`quarantine`); `defaults` drops only its
         * invalid fields and still records it in quarantine. Never the default.
         */
        onInvalid: z.enum(['quarantine', 'defaults']).default('quarantine'),
      })
      .strict()
      .default(() => ({ onInvalid: 'quarantine' as const })),
    stages: stagesSchema.default(defaultStages),
    /**
     * Named gate definitions (src/gates/gate-definition.ts): `gates: { errors: { provider: compare, ... } }`.
     * Absent: the stages only soak, as before gates existed.
     */
    gates: z
      .custom<z.input<typeof gateDefinitionsSchema>>(
        (value) => typeof value === 'object' && value !== null && !Array.isArray(value),
        {
          message:
            'gates must map gate names to definitions, e.g. gates: { errors: { provider: compare, endpoint: ... } }',
        },
      )
      .pipe(gateDefinitionsSchema)
      .optional(),
    /** Default bound on every human wait; a stage may override it. Absent: waits last until answered. */
    escalateAfter: positiveDuration('escalateAfter').optional(),
    /** Default for what an expired wait does ({@link ON_ESCALATION}); `rollback` when absent. */
    onEscalation: onEscalationSchema.optional(),
    rollback: z
      .object({
        /**
         * The scope of a rollback the rollout starts itself (a failed gate, an escalation) and of an
         * operator's rollback that names none.
         */
        scope: z
          .enum(ROLLBACK_SCOPES, { error: `rollback.scope must be ${ROLLBACK_SCOPES.join(' or ')}` })
          .default(DEFAULT_ROLLBACK_SCOPE),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((plan, ctx) => {
    // The key migration's only way back is the backup; without one it could not be undone.
    if (plan.phases.migrateKeys && !plan.backup.tables.includes('runtime_config')) {
      ctx.addIssue({
        code: 'custom',
        path: ['backup', 'tables'],
        message: 'the key migration (phases.migrateKeys) needs runtime_config in backup.tables',
      });
    }
    if (plan.phases.migrateTemplates && !plan.backup.tables.includes('prompt_templates')) {
      ctx.addIssue({
        code: 'custom',
        path: ['backup', 'tables'],
        message: 'the template migration (phases.migrateTemplates) needs prompt_templates in backup.tables',
      });
    }
  })
  // The checks below also run when another part of the plan is wrong, so every problem is listed at once; each
  // reads only what it needs, and runs once that parsed.
  .superRefine((plan, ctx) => checkStageGateNames(plan, ctx), {
    when: (payload) => isObjectWithout(payload, ['stages']),
  })
  .superRefine(
    (plan, ctx) => {
      checkStageGateFit(plan, ctx);
      checkEscalation(plan, ctx);
    },
    { when: (payload) => isObjectWithout(payload, ['stages', 'gates', 'escalateAfter', 'onEscalation']) },
  );

/** A validated plan: durations in milliseconds, defaults filled in. */
export type RolloutPlan = z.output<typeof rolloutPlanSchema>;
/** A plan as written in a file. */
export type RolloutPlanInput = z.input<typeof rolloutPlanSchema>;

export class PlanError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`invalid rollout plan ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'PlanError';
  }
}

/**
 * Validates a parsed plan; throws {@link PlanError} listing every problem with its path.
 * Pure (no I/O), so the workflow re-validates its input with the same rules.
 *
 * @example
 * const plan = parseRolloutPlan({ flag: 'unified-config', unleash: { environment: 'development' } }, 'inline');
 * plan.stages.map((s) => s.percent); // [10, 50, 100]
 */
export function parseRolloutPlan(input: unknown, source = 'plan'): RolloutPlan {
  const result = rolloutPlanSchema.safeParse(input);
  if (result.success) return result.data;
  throw new PlanError(source, describeIssues(result.error.issues));
}

/**
 * A validated plan written back as plan input, durations with their units (gates' too), for a consumer that validates its
 * input again with the same rules (the workflow does).
 *
 * @example
 * toPlanInput(parseRolloutPlan({ flag: 'f', unleash: { environment: 'dev' } })).stages[0]; // { percent: 10, soak: '5m', approval: false }
 */
export function toPlanInput(plan: RolloutPlan): RolloutPlanInput {
  const { gates, escalateAfter, ...copy } = structuredClone(plan);
  return {
    ...copy,
    stages: copy.stages.map(({ escalateAfter: stageEscalateAfter, ...stage }) => ({
      ...stage,
      soak: durationText(stage.soak),
      ...(stageEscalateAfter === undefined ? {} : { escalateAfter: durationText(stageEscalateAfter) }),
    })),
    ...(gates === undefined
      ? {}
      : {
          gates: Object.fromEntries(
            Object.entries(gates).map(([name, gate]) => [name, toGateDefinitionInput(gate)]),
          ),
        }),
    ...(escalateAfter === undefined ? {} : { escalateAfter: durationText(escalateAfter) }),
  };
}

/** A stage as the workflow runs it: every default of the plan resolved. */
export interface StagePolicy {
  percent: number;
  /** Milliseconds. */
  soak: number;
  approval: boolean;
  /** The gates measuring during the soak, in the stage's order (the plan's when it lists none); may be empty. */
  gates: { name: string; definition: GateDefinition }[];
  /** The bound on each human wait of the stage, or null: a wait lasts until an operator answers. */
  escalation: { afterMs: number; action: OnEscalation } | null;
}

/**
 * Stage `index` of a validated plan with the plan's defaults applied: its gates (the stage's list, else every
 * defined gate when the stage soaks, else none) and its escalation (the stage's `escalateAfter` and
 * `onEscalation`, else the plan's, else none; the action defaults to `rollback`). Pure.
 *
 * @example
 * const plan = parseRolloutPlan({ flag: 'f', unleash: { environment: 'dev' }, escalateAfter: '30m' });
 * stagePolicy(plan, 0).escalation; // null: stage 1 has no approval and the plan no gates, so no wait
 */
export function stagePolicy(plan: RolloutPlan, index: number): StagePolicy {
  const stage = plan.stages[index];
  if (stage === undefined) throw new RangeError(`the plan has no stage ${index}`);
  const gates = gateNamesOf(plan, stage).map((name) => ({ name, definition: plan.gates![name]! }));
  const afterMs = stage.escalateAfter ?? plan.escalateAfter;
  const hasWait = stage.approval || gates.length > 0;
  return {
    percent: stage.percent,
    soak: stage.soak,
    approval: stage.approval,
    gates,
    escalation:
      afterMs === undefined || !hasWait
        ? null
        : { afterMs, action: stage.onEscalation ?? plan.onEscalation ?? DEFAULT_ON_ESCALATION },
  };
}

/** The plan's rollback scope: what a rollback undoes when nobody names a scope (default `full`). */
export function rollbackScope(plan: RolloutPlan): RollbackScope {
  return plan.rollback?.scope ?? DEFAULT_ROLLBACK_SCOPE;
}
