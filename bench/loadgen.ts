/**
 * The load generator: keeps a fixed number of requests in flight (a new one as each completes,
 * closed loop, like etcd's benchmark tool with N clients) until an operation count or a time
 * bound, and records every request's latency into a histogram.
 */
import { Histogram } from './histogram.js';

export interface LoadOptions {
  /** Requests kept outstanding. */
  inFlight: number;
  /** Stop after this many requests were issued... */
  maxOps: number;
  /** ...or once this many seconds have passed, whichever comes first. */
  maxSec: number;
  /** Called with the share of the run done (by time or by count), at most every 100 ms. */
  onProgress?: (fraction: number) => void;
  /** Abandon the run after this many failed requests (default 100). */
  maxErrors?: number;
}

export interface LoadResult {
  /** Requests that succeeded. */
  ops: number;
  errors: number;
  firstError?: string;
  seconds: number;
  /** Successful requests per second. */
  throughput: number;
  inFlight: number;
  /** Every request's latency, failed ones included. */
  hist: Histogram;
}

/**
 * Runs `op(i)` for i = 0, 1, ... with `inFlight` outstanding. An op may return a promise or a plain
 * value (a synchronous embedded read): a plain value completes at once.
 */
export async function drive(op: (i: number) => unknown, o: LoadOptions): Promise<LoadResult> {
  const hist = new Histogram();
  const maxErrors = o.maxErrors ?? 100;
  let issued = 0;
  let done = 0;
  let errors = 0;
  let firstError: string | undefined;
  let stop = false;
  const t0 = process.hrtime.bigint();
  const budgetNs = BigInt(Math.round(o.maxSec * 1e9));
  const deadline = t0 + budgetNs;
  let nextProgress = t0;
  const fail = (err: unknown): void => {
    errors++;
    firstError ??= err instanceof Error ? err.message : String(err);
    if (errors > maxErrors) stop = true;
  };
  const lane = async (): Promise<void> => {
    while (!stop) {
      const i = issued++;
      if (i >= o.maxOps) break;
      const ts = process.hrtime.bigint();
      try {
        const r = op(i);
        if (r !== null && typeof r === 'object' && typeof (r as PromiseLike<unknown>).then === 'function') await r;
      } catch (err) {
        fail(err);
      }
      const te = process.hrtime.bigint();
      hist.recordNs(Number(te - ts));
      done++;
      if (te >= deadline) stop = true;
      if (o.onProgress && te >= nextProgress) {
        nextProgress = te + 100_000_000n;
        o.onProgress(Math.min(1, Math.max(Number(te - t0) / Number(budgetNs), issued / o.maxOps)));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.inFlight) }, lane));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const ops = done - errors;
  return { ops, errors, firstError, seconds, throughput: ops / seconds, inFlight: o.inFlight, hist };
}
