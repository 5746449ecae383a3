/** Rate and time left of a counter that moves in steps, from samples of (time, done). */
export interface RateEstimate {
  /** Units per second over the window, null until two samples span some time and the count moved. */
  perSecond: number | null;
  /** Milliseconds left at that rate, null when the total or the rate is unknown. */
  etaMs: number | null;
}

/**
 * Estimates the rate of a running data phase over the last `windowMs` of samples, so a phase that speeds up
 * (adaptive batch sizes) or slows down (lock retries) shows its current pace, not its average since the
 * start. A sample under an earlier one (a retried attempt resuming from an older checkpoint) or for another
 * phase starts over: the old pace says nothing about the new attempt.
 *
 * @example
 * const rate = new ProgressRate();
 * rate.sample('migrateKeys/rename', 0, 1_000, 100_000);
 * rate.sample('migrateKeys/rename', 20_000, 3_000, 100_000); // { perSecond: 10000, etaMs: 8000 }
 */
export class ProgressRate {
  private key: string | null = null;
  private samples: { at: number; done: number }[] = [];

  constructor(private readonly windowMs = 20_000) {}

  sample(key: string, done: number, at: number, total: number | null): RateEstimate {
    const last = this.samples.at(-1);
    if (key !== this.key || (last && done < last.done)) {
      this.key = key;
      this.samples = [];
    }
    this.samples.push({ at, done });
    while (this.samples.length > 2 && at - this.samples[1]!.at >= this.windowMs) this.samples.shift();
    const first = this.samples[0]!;
    const seconds = (at - first.at) / 1000;
    const moved = done - first.done;
    const perSecond = seconds > 0 && moved > 0 ? moved / seconds : null;
    const etaMs =
      perSecond !== null && total !== null ? Math.max(0, ((total - done) / perSecond) * 1000) : null;
    return { perSecond, etaMs };
  }

  reset(): void {
    this.key = null;
    this.samples = [];
  }
}
