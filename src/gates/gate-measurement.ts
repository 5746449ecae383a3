import type { PassIf } from './gate-definition';

export type GateVerdict = 'pass' | 'fail' | 'inconclusive';

/**
 * One measurement of one gate, as the workflow, the audit log and the status query keep it. Numbers are
 * finite or null so the record survives JSON (Temporal payloads, jsonb); `detail` is a bounded sentence for an
 * operator and never holds a secret.
 */
export interface GateMeasurement {
  verdict: GateVerdict;
  /** What was measured (a ratio, a rate, a count, a status code, the compare test's evidence); null when nothing was. */
  value: number | null;
  /** What it was judged against; null when the gate has no single threshold. */
  threshold: number | null;
  /** How much data the value rests on (requests, series, rows); null when not applicable. */
  sample: number | null;
  detail: string;
}

export const MAX_DETAIL_LENGTH = 400;

/** A detail cut to {@link MAX_DETAIL_LENGTH} characters, never splitting a surrogate pair. */
export function boundedDetail(text: string): string {
  if (text.length <= MAX_DETAIL_LENGTH) return text;
  const cut = Array.from(text.slice(0, MAX_DETAIL_LENGTH - 1));
  const last = cut[cut.length - 1] ?? '';
  if (last.length === 1 && /[\uD800-\uDBFF]/.test(last)) cut.pop();
  return `${cut.join('')}…`;
}

/** A number as a measurement keeps it: finite, or null (JSON has no NaN or Infinity). */
export function finiteOrNull(value: number | null | undefined): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/** Whether `value passIf threshold` holds; NaN never passes. */
export function passes(value: number, passIf: PassIf, threshold: number): boolean {
  switch (passIf) {
    case '<':
      return value < threshold;
    case '<=':
      return value <= threshold;
    case '>':
      return value > threshold;
    case '>=':
      return value >= threshold;
  }
}
