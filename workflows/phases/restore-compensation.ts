import type { EventKeys } from '../rollout-journal';
import type { PhaseContext } from './phase-context';

/** What a restore answers when the table has no backup (its phase never ran: it refuses to without one). */
interface Skipped {
  skipped: string;
}

/** What both restores report about writes made after the backup (kept, never discarded). */
interface RestoreReport {
  kept: { insertedAfterBackup: number; writtenAfterBackup: number };
}

export interface RestoreSpec<Result extends RestoreReport | Skipped> {
  table: string;
  keys: EventKeys;
  /** The restore activity. */
  restore: () => Promise<Result>;
  /** What came back, e.g. "12 rows back, 3 reinserted". */
  describe: (report: Exclude<Result, Skipped>) => string;
}

/**
 * The compensation of a phase that rewrites a table in place: restore it from the rollout's backup (a long
 * activity, watched like a data phase) and record what came back and what was kept.
 */
export async function restoreFromBackup<Result extends RestoreReport | Skipped>(
  { journal, waits }: Pick<PhaseContext, 'journal' | 'waits'>,
  spec: RestoreSpec<Result>,
): Promise<void> {
  const restored = await waits.watched(spec.restore);
  let summary: string;
  if ('skipped' in restored) {
    summary = `${spec.table}: no backup, nothing to restore`;
  } else {
    const report = restored as Exclude<Result, Skipped>;
    const kept = report.kept.insertedAfterBackup + report.kept.writtenAfterBackup;
    summary = `${spec.table} restored: ${spec.describe(report)}; kept ${kept} written after the backup`;
  }
  const details: object = restored;
  await journal.record({ ...spec.keys, details: { ...details } }, summary);
}
