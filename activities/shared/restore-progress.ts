import { z } from 'zod';

/** A restore's checkpoint: the next id to look at, and where the table ended when the restore began. */
export const restoreProgressSchema = z.object({
  cursor: z.number().int().nonnegative(),
  end: z.number().int().nonnegative(),
});

export type RestoreProgress = z.infer<typeof restoreProgressSchema>;

/** Verification can fail when a write races the final check; a few attempts settle it, more would not. */
const MAX_CONVERGE_ATTEMPTS = 5;

/**
 * Whether a restore's verification failure is final: the backup itself changed (retrying cannot help), or
 * enough attempts have raced concurrent writes.
 */
export function isFinalVerificationFailure(kind: string, attempt: number): boolean {
  return kind === 'backup-changed' || attempt >= MAX_CONVERGE_ATTEMPTS;
}
