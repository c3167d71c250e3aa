/**
 * A latency histogram in the HdrHistogram style: log-linear buckets (64 per power of two, so a
 * bucket is at most 1.6% wide) over nanoseconds, 1 ns to hours, in a fixed array. Recording is
 * one index computation and one increment, so every request of a run can be recorded.
 */

const SUB = 64;
const SUB_BITS = 6;
/** Enough buckets for 2^42 ns (about 73 minutes). */
const BUCKETS = (42 - SUB_BITS + 1) * SUB + SUB;

function indexOf(ns: number): number {
  const v = ns < 0 ? 0 : Math.floor(ns);
  if (v < 2 * SUB) return v;
  const shift = Math.floor(Math.log2(v)) - SUB_BITS;
  const i = (shift + 1) * SUB + Math.floor(v / 2 ** shift) - SUB;
  return i < BUCKETS ? i : BUCKETS - 1;
}

/** The smallest value of bucket i, and its width. */
function bounds(i: number): { low: number; width: number } {
  if (i < 2 * SUB) return { low: i, width: 1 };
  const shift = Math.floor(i / SUB) - 1;
  return { low: ((i % SUB) + SUB) * 2 ** shift, width: 2 ** shift };
}

/** Percentiles reported in the JSON and plotted: the latency distribution's shape. */
export const PLOT_PERCENTILES = [0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 100] as const;

/** What a run's latencies came to, in µs (the summary shape the rest of the bench uses). */
export interface HistogramSummary {
  n: number;
  mean: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export class Histogram {
  private readonly counts = new Float64Array(BUCKETS);
  private total = 0;
  private sum = 0;
  private lo = Infinity;
  private hi = -Infinity;

  /** Records one latency in nanoseconds. */
  recordNs(ns: number): void {
    this.counts[indexOf(ns)]!++;
    this.total++;
    this.sum += ns;
    if (ns < this.lo) this.lo = ns;
    if (ns > this.hi) this.hi = ns;
  }

  /** Records the time since `t0` (process.hrtime.bigint()). */
  recordSince(t0: bigint): void {
    this.recordNs(Number(process.hrtime.bigint() - t0));
  }

  add(other: Histogram): this {
    for (let i = 0; i < BUCKETS; i++) this.counts[i]! += other.counts[i]!;
    this.total += other.total;
    this.sum += other.sum;
    this.lo = Math.min(this.lo, other.lo);
    this.hi = Math.max(this.hi, other.hi);
    return this;
  }

  get count(): number {
    return this.total;
  }

  /** The latency (ns) at percentile p (0–100): the middle of the bucket holding that rank, within [min, max]. */
  percentileNs(p: number): number {
    if (this.total === 0) return NaN;
    if (p <= 0) return this.lo;
    if (p >= 100) return this.hi;
    const rank = Math.max(1, Math.ceil((p / 100) * this.total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) {
        const b = bounds(i);
        return Math.min(this.hi, Math.max(this.lo, b.low + b.width / 2));
      }
    }
    return this.hi;
  }

  /** p50/p90/p99/p99.9/max/mean in µs. */
  summary(): HistogramSummary {
    const us = (ns: number): number => ns / 1000;
    return {
      n: this.total,
      mean: this.total ? us(this.sum / this.total) : NaN,
      min: this.total ? us(this.lo) : NaN,
      p50: us(this.percentileNs(50)),
      p90: us(this.percentileNs(90)),
      p99: us(this.percentileNs(99)),
      p999: us(this.percentileNs(99.9)),
      max: this.total ? us(this.hi) : NaN,
    };
  }

  /** [percentile, µs] along PLOT_PERCENTILES, for the report's distribution plots. */
  percentileCurve(): [number, number][] {
    return PLOT_PERCENTILES.map((p) => [p, this.percentileNs(p) / 1000]);
  }

  /** The non-empty buckets as [lower bound ns, count]: the whole distribution, for the JSON file. */
  buckets(): [number, number][] {
    const out: [number, number][] = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i]! > 0) out.push([bounds(i).low, this.counts[i]!]);
    return out;
  }
}
