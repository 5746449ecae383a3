/** The message of anything thrown, for a log field or a wrapping error; a non-Error is stringified. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
