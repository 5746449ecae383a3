import type { DataProgress } from './data-progress';
import { formatPosition, formatProgressLine, formatRate, progressTitle } from './format-progress';
import { ProgressRate } from './progress-rate';
import type { ProgressBar } from './terminal-bar';

export interface DataProgressReporterOptions {
  /** A bar on a terminal; null for plain lines (logs, pipes, `--json`). */
  bar: ProgressBar | null;
  /** Where plain lines go. */
  write: (text: string) => void;
  /** At most one plain line per this many milliseconds (default 5 s). */
  lineEveryMs?: number;
  now?: () => number;
}

/** Default spacing of plain progress lines: often enough to see a phase move, rare enough for a log. */
export const PROGRESS_LINE_EVERY_MS = 5_000;

/**
 * Shows a running data phase's batch progress (rows or ids done of the total, rate, ETA) as a bar on a
 * terminal, or as a plain line at most every `lineEveryMs` otherwise. Fed one observation per poll.
 *
 * @example
 * const reporter = new DataProgressReporter({ bar: null, write: (t) => process.stderr.write(t) });
 * reporter.observe(view.progress); // prints `… progress  key migration (rename): 120,000/200,000 ids (60%) · …`
 */
export class DataProgressReporter {
  private readonly rate = new ProgressRate();
  private lastLineAt = Number.NEGATIVE_INFINITY;
  private readonly lineEveryMs: number;
  private readonly now: () => number;

  constructor(private readonly options: DataProgressReporterOptions) {
    this.lineEveryMs = options.lineEveryMs ?? PROGRESS_LINE_EVERY_MS;
    this.now = options.now ?? Date.now;
  }

  /** One poll's progress, or null when no data phase runs (which clears the bar). */
  observe(progress: DataProgress | null): void {
    const { bar } = this.options;
    if (progress === null) {
      this.rate.reset();
      if (bar?.showing?.startsWith('data:')) bar.stop();
      return;
    }
    const at = this.now();
    const key = `${progress.activity}/${progress.step ?? ''}/${progress.attempt}`;
    const rate =
      progress.done === null
        ? { perSecond: null, etaMs: null }
        : this.rate.sample(key, progress.done, at, progress.total);
    if (bar) {
      const position = formatPosition(progress) ?? 'no checkpoint yet';
      const detail = progress.done === null ? position : `${position} · ${formatRate(progress, rate)}`;
      const total = progress.total ?? 0;
      // Without a total (the dedupe sweep) the bar stays empty and the line carries the counts.
      bar.show(
        `data:${key}`,
        `  {title} [{bar}] {detail}`,
        Math.max(total, 1),
        total > 0 ? (progress.done ?? 0) : 0,
        {
          title: progressTitle(progress),
          detail,
        },
      );
      return;
    }
    if (at - this.lastLineAt < this.lineEveryMs) return;
    this.lastLineAt = at;
    this.options.write(
      `${new Date(at).toISOString()}  ${'progress'.padEnd(18)} ${formatProgressLine(progress, rate)}\n`,
    );
  }
}
