/**
 * A restore's final check failed. `backup-changed`: the backup no longer matches its record, so retrying
 * cannot help; `not-converged`: rows still differ from the backup as they should not, which a write racing
 * the check can cause, so a few more attempts may settle it.
 */
export class RestoreVerificationError extends Error {
  override name = 'RestoreVerificationError';

  constructor(
    readonly kind: 'backup-changed' | 'not-converged',
    message: string,
  ) {
    super(message);
  }
}
