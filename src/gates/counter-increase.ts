/**
 * Counter increases between two scrapes of an exposition endpoint, per series, the way Prometheus's
 * `increase()` reads a counter: a value below the last one means the process restarted and counted again from
 * zero, so the increase is the new value. Pure, so the reset rules are unit-tested without a server.
 */

/** Last seen value per series key; what a gate keeps between measurements. */
export type CounterValues = Record<string, number>;

export interface CounterIncreases {
  /** Increase per series key seen in this scrape. */
  increases: Map<string, number>;
  /** Series whose value went down (a restart). */
  resets: number;
  /** Series first seen in this scrape, counted from zero (a labelled counter appears at its first increment). */
  appeared: number;
  /** The values to keep for the next scrape: these plus the last value of series missing from this scrape. */
  values: CounterValues;
}

/** Most series a gate follows; more means a label is unbounded and the measurement is refused. */
export const MAX_SERIES = 5_000;

export class TooManySeriesError extends Error {
  constructor(count: number) {
    super(`the selection matches ${count} series, more than ${MAX_SERIES}; narrow it with label matchers`);
    this.name = 'TooManySeriesError';
  }
}

/**
 * The increase of every series in `current` since `previous`. A series missing from this scrape keeps its
 * last value, so one that comes back is not counted twice; one never seen before counts from zero. A counter
 * that restarted and has already passed its old value cannot be told apart by its value alone: when the
 * caller knows the process restarted (`restarted`, e.g. from `process_start_time_seconds`), every series
 * counts from zero.
 *
 * @example
 * counterIncreases({ a: 10 }, new Map([['a', 4], ['b', 2]])).increases; // a → 4 (reset), b → 2 (new)
 */
export function counterIncreases(
  previous: Readonly<CounterValues>,
  current: ReadonlyMap<string, number>,
  options: { restarted?: boolean } = {},
): CounterIncreases {
  const increases = new Map<string, number>();
  const values: CounterValues = { ...previous };
  let resets = 0;
  let appeared = 0;
  for (const [key, value] of current) {
    if (!Number.isFinite(value) || value < 0) continue;
    const last = Object.prototype.hasOwnProperty.call(previous, key) ? previous[key] : undefined;
    if (last === undefined) {
      appeared++;
      increases.set(key, value);
    } else if (value >= last && !options.restarted) {
      increases.set(key, value - last);
    } else {
      resets++;
      increases.set(key, value);
    }
    values[key] = value;
  }
  const count = Object.keys(values).length;
  if (count > MAX_SERIES) throw new TooManySeriesError(count);
  return { increases, resets, appeared, values };
}

/**
 * A short, stable key for a series (its name and labels in any order), so a gate's running state stays small
 * whatever the label values: cyrb53, a 53-bit hash, in base 36.
 */
export function seriesKey(name: string, labels: Readonly<Record<string, string>>): string {
  const text = [
    name,
    ...Object.keys(labels)
      .sort()
      .map((label) => `${label}=${JSON.stringify(labels[label])}`),
  ].join('\u0000');
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ code, 2654435761);
    h2 = Math.imul(h2 ^ code, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(36);
}
