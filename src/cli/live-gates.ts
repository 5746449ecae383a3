import { z } from 'zod';
import type { PendingActivity } from './data-progress';

/** One gate's running tally as the CLI shows it (from the gate activity's heartbeat, or the status). */
export interface GateLine {
  gate: string;
  measured: number;
  failures: number;
  last: { verdict: string; value: number | null; threshold: number | null; sample: number | null } | null;
}

// The heartbeat comes over the network from whatever worker version runs: checked, bounded, extra fields ignored.
const measurementSchema = z.object({
  verdict: z.enum(['pass', 'fail', 'inconclusive']),
  value: z.number().nullable(),
  threshold: z.number().nullable(),
  sample: z.number().nullable(),
});
const tallySchema = z.object({
  // Gate names as the plan allows them; nothing a terminal would act on.
  gate: z.string().regex(/^[a-z][a-z0-9_-]{0,39}$/),
  measured: z.number().int().nonnegative(),
  failures: z.number().int().nonnegative(),
  last: z.array(measurementSchema).max(50),
});
const heartbeatSchema = z.object({ gates: z.array(z.object({ tally: tallySchema })).max(100) });

function line(tally: z.infer<typeof tallySchema>): GateLine {
  return {
    gate: tally.gate,
    measured: tally.measured,
    failures: tally.failures,
    last: tally.last[tally.last.length - 1] ?? null,
  };
}

/**
 * The gates measuring right now: the running `runStageGates` activity's last heartbeat (the workflow's own
 * status only hears of them when the activity returns, at a decision). Null when no gated soak runs or its
 * details are not what this CLI understands.
 *
 * @example
 * readLiveGates(pendingActivities((await handle.describe()).raw)); // [{ gate: 'errors', measured: 12, … }]
 */
export function readLiveGates(pending: readonly PendingActivity[]): GateLine[] | null {
  const activity = pending.find((p) => p.activityType === 'runStageGates');
  if (!activity) return null;
  const parsed = heartbeatSchema.safeParse(activity.details);
  return parsed.success ? parsed.data.gates.map((g) => line(g.tally)) : null;
}

/** `errors: pass, value 0.004 vs threshold 0.005, sample 1200 · 12 measured, 0 failed` */
export function formatGateLine(gate: GateLine): string {
  const m = gate.last;
  const measured = m
    ? `${m.verdict}, value ${m.value ?? 'none'} vs threshold ${m.threshold ?? 'none'}, sample ${m.sample ?? 'none'}`
    : 'no measurement yet';
  return `${gate.gate}: ${measured} · ${gate.measured} measured, ${gate.failures} failed`;
}
