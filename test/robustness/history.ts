/**
 * A run's history: one JSON line per event (every operation with its call and return times and its
 * outcome, every watch response, every fault and heal, every check's verdict), gzipped, in the run
 * directory. Times are milliseconds on the harness's monotonic clock (`now()`); the first line
 * gives the wall-clock time of 0.
 */
import fs from 'node:fs';
import { createGzip, gunzipSync, type Gzip } from 'node:zlib';

/** Milliseconds since the harness started (monotonic). */
export function now(): number {
  return performance.now();
}

export class Recorder {
  private readonly gzip: Gzip;
  private readonly done: Promise<void>;
  lines = 0;

  constructor(readonly file: string, header: Record<string, unknown>) {
    this.gzip = createGzip();
    const out = fs.createWriteStream(file);
    this.gzip.pipe(out);
    this.done = new Promise((resolve, reject) => {
      out.on('finish', () => resolve());
      out.on('error', reject);
    });
    this.write({ t: 'run', timeOrigin: performance.timeOrigin, ...header });
  }

  write(event: Record<string, unknown>): void {
    this.lines++;
    this.gzip.write(`${JSON.stringify(event, (_k, v) => (v === Infinity ? null : v))}\n`);
  }

  async close(): Promise<void> {
    this.gzip.end();
    await this.done;
  }
}

/** Reads a history file back (for `--recheck`). */
export function readHistory(file: string): Record<string, unknown>[] {
  const raw = fs.readFileSync(file);
  const text = (file.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
  return text.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as Record<string, unknown>);
}
