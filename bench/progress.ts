/**
 * A progress bar on the last line of a terminal: what is running, how far the whole run is.
 * Only on a TTY (stderr); elsewhere it does nothing. Lines printed with console.log/error while
 * it shows are written above it.
 */

export class Progress {
  private readonly tty = process.stderr.isTTY === true;
  private total = 0;
  private done = 0;
  /** The share of the current step done, 0–1. */
  private part = 0;
  private label = '';
  private shown = false;
  private readonly t0 = Date.now();
  private restore?: () => void;

  constructor() {
    if (!this.tty) return;
    const log = console.log.bind(console);
    const error = console.error.bind(console);
    const around = (write: (...a: unknown[]) => void) => (...a: unknown[]): void => {
      this.clear();
      write(...a);
      this.draw();
    };
    console.log = around(log);
    console.error = around(error);
    this.restore = () => {
      console.log = log;
      console.error = error;
    };
  }

  /** Adds `steps` to the run's planned steps. */
  plan(steps: number): void {
    this.total += steps;
    this.draw();
  }

  /** Starts the next step. */
  step(label: string): void {
    this.label = label;
    this.part = 0;
    this.draw();
  }

  /** How far the current step is (0–1). */
  update(fraction: number): void {
    this.part = Math.min(1, Math.max(0, fraction));
    this.draw();
  }

  /** The current step is over. */
  finish(): void {
    this.done = Math.min(this.total, this.done + 1);
    this.part = 0;
    this.draw();
  }

  /** Removes the bar and gives console back. */
  close(): void {
    this.clear();
    this.restore?.();
    this.restore = undefined;
  }

  private clear(): void {
    if (this.tty && this.shown) process.stderr.write('\r\x1b[K');
    this.shown = false;
  }

  private draw(): void {
    if (!this.tty || this.total === 0 || this.done >= this.total) return;
    const width = 30;
    const f = Math.min(1, (this.done + this.part) / this.total);
    const full = Math.round(f * width);
    const secs = Math.round((Date.now() - this.t0) / 1000);
    const cols = process.stderr.columns ?? 100;
    const line = `[${'#'.repeat(full)}${'.'.repeat(width - full)}] ${(f * 100).toFixed(0).padStart(3)}% ${secs}s  ${this.label}`;
    process.stderr.write(`\r\x1b[K${line.slice(0, cols - 1)}`);
    this.shown = true;
  }
}
