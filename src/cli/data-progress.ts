import { z } from 'zod';

/**
 * Where a running data phase (a key or template migration, or a restore) is, read from its activity's last
 * heartbeat details. `done` and `total` count `unit`s: rows for the template migration (its scan counts
 * them), ids for the key migration's rename sweep and for restores (their checkpoints are id cursors, so a
 * table with gaps in its ids moves in jumps). A step with no countable position (the dedupe sweep walks an
 * index; the constraint build and verification are single statements) has `done` and `total` null.
 */
export interface DataProgress {
  /** The activity type, e.g. `migrateKeys`. */
  activity: string;
  /** What an operator calls it: `key migration`, `restore of runtime_config`, … */
  what: string;
  /** The step inside the phase, when it has several (`rename`, `dedupe`, `constraint`, `verify`). */
  step: string | null;
  unit: 'rows' | 'ids';
  done: number | null;
  total: number | null;
  /** Counts worth showing beside the position, e.g. `{ renamed: 1200, batches: 14 }`. */
  counts: Record<string, number>;
  /** The activity's attempt (1 unless a worker crashed or a batch failed and it was retried). */
  attempt: number;
  /** When the server last received a heartbeat, ISO 8601, if it has one. */
  heartbeatAt: string | null;
}

/** What the CLI knows about a pending activity from `DescribeWorkflowExecution`, heartbeat details decoded. */
export interface PendingActivity {
  activityType: string;
  /** The decoded first heartbeat detail; `undefined` before the first heartbeat. Untrusted. */
  details: unknown;
  attempt: number;
  heartbeatAt: string | null;
}

/** Totals the heartbeat details do not carry, looked up by the caller (see {@link totalsNeeded}). */
export interface KnownTotals {
  /** The highest id in runtime_config: where the key migration's rename sweep ends. */
  runtimeConfigMaxId?: number | null;
  /** Rows of prompt_templates when it was backed up (the backup's verified row count). */
  templateRows?: number | null;
}

const count = z.number().int().nonnegative();

// Only the fields shown are required, and unknown fields are ignored: a worker of another version may send
// more (or its own shape), and progress is worth showing but never worth failing a watch over.
const keyMigrationDetails = z.object({
  step: z.string().max(40),
  renameCursor: count,
  totals: z.object({ renamed: count, discarded: count, batches: count }),
});

const templateMigrationDetails = z.object({
  cursor: count,
  totals: z.object({ batches: count, scanned: count, written: count }),
  unknownFields: z.object({ total: count }).optional(),
});

const restoreDetails = z.object({ cursor: count, end: count });

/** The data-phase activities whose heartbeat details carry a checkpoint (activities/shared/resumable-phase.ts). */
export const DATA_PHASE_ACTIVITIES = {
  migrateKeys: 'key migration',
  migrateTemplates: 'template migration',
  restoreTable: 'restore of runtime_config',
  restoreTemplates: 'restore of prompt_templates',
} as const;

type DataPhaseActivity = keyof typeof DATA_PHASE_ACTIVITIES;

function isDataPhaseActivity(name: string): name is DataPhaseActivity {
  return Object.hasOwn(DATA_PHASE_ACTIVITIES, name);
}

/** The first pending activity that is a data phase, if any (the workflow runs one at a time). */
export function dataPhaseActivity(pending: readonly PendingActivity[]): PendingActivity | undefined {
  return pending.find((activity) => isDataPhaseActivity(activity.activityType));
}

/**
 * Which totals {@link readDataProgress} needs looked up for this activity: the key migration's rename sweep
 * ends at runtime_config's highest id, the template migration scans every row of prompt_templates.
 */
export function totalsNeeded(activity: PendingActivity): keyof KnownTotals | null {
  if (activity.activityType === 'migrateKeys') {
    const parsed = keyMigrationDetails.safeParse(activity.details);
    return !parsed.success || parsed.data.step === 'rename' ? 'runtimeConfigMaxId' : null;
  }
  if (activity.activityType === 'migrateTemplates') return 'templateRows';
  return null;
}

/**
 * The progress of a data-phase activity from its heartbeat details, or null when it is not a data phase.
 * Details that are missing (no heartbeat yet) or that do not have the expected shape give a progress with
 * no position rather than an error.
 *
 * @example
 * readDataProgress(
 *   { activityType: 'restoreTable', details: { cursor: 5000, end: 20000 }, attempt: 1, heartbeatAt: null },
 * ); // { what: 'restore of runtime_config', unit: 'ids', done: 5000, total: 20000, … }
 */
export function readDataProgress(activity: PendingActivity, known: KnownTotals = {}): DataProgress | null {
  const name = activity.activityType;
  if (!isDataPhaseActivity(name)) return null;
  const base: DataProgress = {
    activity: name,
    what: DATA_PHASE_ACTIVITIES[name],
    step: null,
    unit: 'ids',
    done: null,
    total: null,
    counts: {},
    attempt: activity.attempt,
    heartbeatAt: activity.heartbeatAt,
  };
  const atLeast = (total: number | null | undefined, done: number) =>
    total === null || total === undefined ? null : Math.max(total, done);

  if (name === 'migrateKeys') {
    const parsed = keyMigrationDetails.safeParse(activity.details);
    if (!parsed.success) return base;
    const { step, renameCursor, totals } = parsed.data;
    const counts = { renamed: totals.renamed, discarded: totals.discarded, batches: totals.batches };
    if (step !== 'rename') return { ...base, step, counts };
    return {
      ...base,
      step,
      done: renameCursor,
      total: atLeast(known.runtimeConfigMaxId, renameCursor),
      counts,
    };
  }
  if (name === 'migrateTemplates') {
    const parsed = templateMigrationDetails.safeParse(activity.details);
    if (!parsed.success) return { ...base, unit: 'rows' };
    const { totals, unknownFields } = parsed.data;
    return {
      ...base,
      unit: 'rows',
      done: totals.scanned,
      total: atLeast(known.templateRows, totals.scanned),
      counts: {
        written: totals.written,
        batches: totals.batches,
        ...(unknownFields ? { 'unknown fields': unknownFields.total } : {}),
      },
    };
  }
  const parsed = restoreDetails.safeParse(activity.details);
  if (!parsed.success) return base;
  return { ...base, done: parsed.data.cursor, total: Math.max(parsed.data.end, parsed.data.cursor) };
}
