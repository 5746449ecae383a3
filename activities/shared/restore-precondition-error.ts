/**
 * A restore cannot start because something it needs is gone or malformed (the backup table dropped, its
 * record missing, a column missing). Retrying cannot help, so the activity fails for good and the rollback
 * goes on with its other steps, reporting this one as left undone.
 */
export class RestorePreconditionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RestorePreconditionError';
  }
}
