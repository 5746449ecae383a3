/**
 * Workflow time as an ISO string. Inside the workflow sandbox `Date` is Temporal's deterministic
 * replacement (the time of the current workflow task), so this is replay-safe; it is the one place that
 * reads it, which keeps the lint ban on ambient time meaningful everywhere else.
 */
export function workflowNowIso(offsetMs = 0): string {
  // eslint-disable-next-line no-restricted-properties
  return new Date(Date.now() + offsetMs).toISOString();
}

/** Workflow time in ms since the epoch (deterministic inside the sandbox, see above). */
export function workflowNowMs(): number {
  // eslint-disable-next-line no-restricted-properties
  return Date.now();
}
