const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;

/**
 * Parses a plan duration such as `30s`, `5m`, `1.5h` or `250ms` into milliseconds; undefined when malformed.
 *
 * @example
 * parseDuration('5m'); // 300000
 */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (!match) return undefined;
  const [, amount, unit] = match;
  const ms = Number(amount) * UNIT_MS[unit as keyof typeof UNIT_MS];
  return Number.isFinite(ms) ? Math.round(ms) : undefined;
}

/** The inverse for display: `300000 → "5m"`, `1500 → "1.5s"`. */
export function formatDuration(ms: number): string {
  if (ms >= UNIT_MS.h && ms % UNIT_MS.m === 0) return `${+(ms / UNIT_MS.h).toFixed(2)}h`;
  if (ms >= UNIT_MS.m && ms % UNIT_MS.s === 0) return `${+(ms / UNIT_MS.m).toFixed(2)}m`;
  if (ms >= UNIT_MS.s) return `${+(ms / UNIT_MS.s).toFixed(2)}s`;
  return `${ms}ms`;
}

/**
 * The exact duration text for a number of milliseconds, so a parsed plan can be written back as plan input:
 * the short form when it reads back to the same value, otherwise whole milliseconds.
 *
 * @example
 * durationText(300_000); // '5m'
 * durationText(1_234); // '1234ms'
 */
export function durationText(ms: number): string {
  const short = formatDuration(ms);
  return parseDuration(short) === ms ? short : `${ms}ms`;
}
