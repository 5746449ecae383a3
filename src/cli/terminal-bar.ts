import { SingleBar } from 'cli-progress';

/** A bar that can be shown, updated in place by key, and stopped (see {@link TerminalBar}). */
export interface ProgressBar {
  readonly showing: string | null;
  show(key: string, format: string, total: number, value: number, payload: Record<string, unknown>): void;
  stop(): void;
}

/**
 * The one progress bar a watch shows on a terminal at a time (a soak or a data phase), identified by a key:
 * the same key updates the bar in place, another key replaces it. Stopped before any other line is printed,
 * so bars and lines never overwrite each other.
 */
export class TerminalBar implements ProgressBar {
  private bar: SingleBar | undefined;
  private key: string | null = null;

  constructor(private readonly stream: NodeJS.WritableStream = process.stderr) {}

  /** The key of the bar on screen, or null. */
  get showing(): string | null {
    return this.key;
  }

  show(key: string, format: string, total: number, value: number, payload: Record<string, unknown>): void {
    if (this.bar && this.key === key) {
      this.bar.setTotal(total);
      this.bar.update(value, payload);
      return;
    }
    this.stop();
    this.bar = new SingleBar({ format, stream: this.stream, hideCursor: true });
    this.bar.start(total, value, payload);
    this.key = key;
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
    this.key = null;
  }
}
