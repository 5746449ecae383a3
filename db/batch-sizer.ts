export interface BatchSizerOptions {
  initial: number;
  min: number;
  max: number;
  /** The duration a batch should take; without one the size stays put and only a statement timeout shrinks it. */
  targetMs?: number;
}

/**
 * Sizes the next batch so it takes about `targetMs`, from the cost of one unit (a key, an index entry). The
 * cost follows a slowdown at once but a speedup only gradually (30 % a batch): one batch that happened to run
 * fast must not make the next one overshoot, which is what a long statement is. Sizes change by at most ×1.5
 * (×1.2 once a batch takes half the target) or ÷2 a step and stay within [min, max].
 */
export class BatchSizer {
  private size: number;
  private unitMs: number | undefined;

  constructor(private readonly options: BatchSizerOptions) {
    this.size = this.clamp(options.initial);
  }

  /** A size nothing changes, not even a statement timeout (which then propagates). */
  static fixed(size: number): BatchSizer {
    return new BatchSizer({ initial: size, min: size, max: size });
  }

  get current(): number {
    return this.size;
  }

  /** The size cannot shrink any further. */
  get atMin(): boolean {
    return this.size <= this.options.min;
  }

  /**
   * Records how long a batch of the current size took and returns the next size. `filled` is the share of
   * the batch that had work (a page cut short by the end of a key): its time is scaled up to a full batch,
   * and a batch under a tenth full says too little to change anything.
   */
  record(elapsedMs: number, filled = 1): number {
    const { targetMs } = this.options;
    if (targetMs === undefined || filled < 0.1) return this.size;
    const latest = elapsedMs / Math.min(1, filled) / this.size;
    this.unitMs = this.unitMs === undefined ? latest : Math.max(latest, 0.7 * this.unitMs + 0.3 * latest);
    const wanted = targetMs / Math.max(this.unitMs, 1e-6);
    // Close to the target, approach it in small steps: the cost per row is not quite linear in batch size.
    const growth = elapsedMs >= targetMs / 2 ? 1.2 : 1.5;
    this.size = this.clamp(Math.min(this.size * growth, Math.max(this.size / 2, wanted)));
    return this.size;
  }

  /** After a statement timeout: a quarter of the size, so the retry fits comfortably. */
  shrink(): number {
    this.size = this.clamp(Math.floor(this.size / 4));
    return this.size;
  }

  private clamp(size: number): number {
    return Math.min(this.options.max, Math.max(this.options.min, Math.floor(size)));
  }
}
