import type { DataProgress } from './data-progress';
import type { RateEstimate } from './progress-rate';

const number = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/**
 * A time left as people read it: `45s`, `3m 05s`, `1h 02m`.
 *
 * @example
 * formatEta(185_000); // '3m 05s'
 */
export function formatEta(ms: number): string {
  const seconds = Math.ceil(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
}

/** `key migration (rename)`, or the phase alone when it has no steps. */
export function progressTitle(progress: DataProgress): string {
  return progress.step ? `${progress.what} (${progress.step})` : progress.what;
}

/** `120,000/200,000 ids (60%)`, `120,000 ids` without a total, or null without a position. */
export function formatPosition(progress: DataProgress): string | null {
  if (progress.done === null) return null;
  if (progress.total === null) return `${number.format(progress.done)} ${progress.unit}`;
  const percent = progress.total > 0 ? Math.floor((progress.done / progress.total) * 100) : 100;
  return `${number.format(progress.done)}/${number.format(progress.total)} ${progress.unit} (${percent}%)`;
}

function formatCounts(progress: DataProgress): string | null {
  const entries = Object.entries(progress.counts);
  if (entries.length === 0) return null;
  return entries.map(([name, value]) => `${name} ${number.format(value)}`).join(', ');
}

/** `40,000 ids/s · ETA 3s`, with `—` for what is not known yet. */
export function formatRate(progress: DataProgress, rate: RateEstimate): string {
  const pace = rate.perSecond === null ? '—' : `${number.format(rate.perSecond)} ${progress.unit}/s`;
  const eta = rate.etaMs === null ? '—' : formatEta(rate.etaMs);
  return `${pace} · ETA ${eta}`;
}

/**
 * One plain line for logs (and `rollout status`): phase and step, position, rate and ETA when known, the
 * phase's own counts, and the attempt when it is a retry.
 *
 * @example
 * formatProgressLine(progress, { perSecond: 40_000, etaMs: 2_000 });
 * // 'key migration (rename): 120,000/200,000 ids (60%) · 40,000 ids/s · ETA 2s · renamed 12,000, discarded 0, batches 14'
 */
export function formatProgressLine(progress: DataProgress, rate?: RateEstimate): string {
  const parts: string[] = [];
  const position = formatPosition(progress);
  if (position) parts.push(position);
  if (rate && progress.done !== null) parts.push(formatRate(progress, rate));
  const counts = formatCounts(progress);
  if (counts) parts.push(counts);
  if (parts.length === 0) parts.push('started, no checkpoint yet');
  if (progress.attempt > 1) parts.push(`attempt ${progress.attempt}`);
  return `${progressTitle(progress)}: ${parts.join(' · ')}`;
}
