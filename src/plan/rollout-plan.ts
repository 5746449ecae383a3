import { z } from 'zod';
import { durationText, parseDuration } from './duration';

/** Tables a rollout may back up; identifiers are never taken from a plan as free text. */
export const BACKUP_TABLES = ['runtime_config', 'prompt_templates', 'model_catalog'] as const;
export type BackupTable = (typeof BACKUP_TABLES)[number];

/** Unleash's own rule for flag names, narrowed to what is safe in a URL path and a log line. */
const FLAG_NAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,99}$/;
const UNLEASH_ID = /^[a-zA-Z0-9][a-zA-Z0-9_-]{0,99}$/;
const MAX_SOAK_MS = 7 * 24 * 3_600_000;

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

/**
 * A rollout plan (YAML or JSON). Unknown keys are errors, so a misspelt or not-yet-supported option is
 * reported instead of silently ignored.
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
  });

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

function issuePath(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (out, part) =>
      typeof part === 'number' ? `${out}[${part}]` : out ? `${out}.${String(part)}` : String(part),
    '',
  );
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
  throw new PlanError(
    source,
    result.error.issues.map((issue) => {
      const where = issuePath(issue.path);
      const message =
        issue.code === 'unrecognized_keys'
          ? `unknown option${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`
          : issue.message;
      return where ? `${where}: ${message}` : message;
    }),
  );
}

/**
 * A validated plan written back as plan input, durations with their units, for a consumer that validates its
 * input again with the same rules (the workflow does).
 *
 * @example
 * toPlanInput(parseRolloutPlan({ flag: 'f', unleash: { environment: 'dev' } })).stages[0]; // { percent: 10, soak: '5m', approval: false }
 */
export function toPlanInput(plan: RolloutPlan): RolloutPlanInput {
  const copy = structuredClone(plan);
  return { ...copy, stages: copy.stages.map((stage) => ({ ...stage, soak: durationText(stage.soak) })) };
}
