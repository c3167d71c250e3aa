/** Shared pieces of the bench: settings, keys and values, clocks, statistics, scratch directories. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Benchmark from 'benchmark';
import type { FloorConfig } from './floor.js';
import type { HistoryConfig } from './history.js';
import type { WorkloadConfig } from './workloads.js';

export const KEY_BYTES = 8;
export const VALUE_BYTES = 256;

export interface Config {
  mode: 'full' | 'quick';
  /** Keys preloaded for the point gets and the range scans (figures 1, 5). */
  keys: number;
  /** Seconds benchmark.js may spend on one synchronous benchmark (point gets / scans). */
  getMaxTime: number;
  scanMaxTime: number;
  minSamples: number;
  /** Figure 2: keys × versions. */
  histKeys: number;
  /** Figure 2c: the same lookups in a store ten times larger. */
  histKeysLarge: number;
  histVersions: number;
  /** Figure 3: puts per round, puts per batch, rounds. */
  batchTotal: number;
  batchSize: number;
  batchRounds: number;
  /** Figure 4: awaited puts per round, rounds. */
  singleWrites: number;
  singleRounds: number;
  /** Figure 6: keys × versions of the history store, puts per batch while building it. */
  openKeys: number;
  openVersions: number;
  buildBatch: number;
  /** Figure 6: timed re-opens of each store, and fresh processes per store for the RSS. */
  reopens: number;
  rssChildren: number;
  /** A timed write round stops early (and reports what it did) past this many seconds. */
  roundBudgetSec: number;
  /** A store build stops early past this many seconds. */
  buildBudgetSec: number;
  /** The whole run is abandoned past this many seconds (the embedded section's share of it). */
  watchdogSec: number;
  /** The cluster section (bench/cluster.ts). */
  cluster: ClusterConfig;
  /** The workloads section (bench/workloads.ts) and its share of the watchdog. */
  workloads: WorkloadConfig & { watchdogSec: number };
  /** The physical floor (bench/floor.ts). */
  floor: FloorConfig & { watchdogSec: number };
  /** The stored-history sweep (bench/history.ts). */
  history: HistoryConfig & { watchdogSec: number };
}

export interface ClusterConfig {
  /** Figure 7: sequential awaited puts (after `warmPuts` untimed ones). */
  seqPuts: number;
  warmPuts: number;
  /** Figure 7's baseline: sequential durable puts into an embedded store in the bench process. */
  embeddedPuts: number;
  /** Figure 7's per-stage breakdown: sequential puts traced with `perf trace` after the timed run. */
  tracePuts: number;
  /** Figure 8: puts kept in flight, and the phase's bounds (whichever comes first). */
  putWindow: number;
  putOps: number;
  putSec: number;
  /** Figures 9 and 10: gets kept in flight (the issue asks for 64–256; the table uses the top of that range), and the phase's bounds. */
  getWindow: number;
  getOps: number;
  getSec: number;
  /** Figures 8–10: timed rounds (each bounded as above); the table shows the median round's rate. */
  rounds: number;
  /** Extra get windows tried (recorded in the JSON, not the table's figure). */
  getWindowSweep: number[];
  sweepSec: number;
  /** Bounds on bringing the cluster up (processes + leader) and down (SIGTERM, then SIGKILL). */
  startSec: number;
  stopSec: number;
  /** The cluster section's share of the watchdog. */
  watchdogSec: number;
}

export const FULL: Config = {
  mode: 'full',
  keys: 100_000,
  getMaxTime: 3,
  scanMaxTime: 3,
  minSamples: 5,
  histKeys: 1_000,
  histKeysLarge: 10_000,
  histVersions: 100,
  batchTotal: 100_000,
  batchSize: 1000,
  batchRounds: 5,
  singleWrites: 2000,
  singleRounds: 5,
  openKeys: 1000,
  openVersions: 1000,
  buildBatch: 10_000,
  reopens: 41,
  rssChildren: 3,
  roundBudgetSec: 30,
  buildBudgetSec: 120,
  watchdogSec: 480,
  cluster: {
    seqPuts: 2000,
    warmPuts: 200,
    embeddedPuts: 1000,
    tracePuts: 200,
    putWindow: 64,
    putOps: 50_000,
    putSec: 5,
    getWindow: 256,
    getOps: 200_000,
    getSec: 5,
    rounds: 3,
    getWindowSweep: [16, 64, 128],
    sweepSec: 2,
    startSec: 30,
    stopSec: 10,
    watchdogSec: 300,
  },
  workloads: { seconds: 3, maxOps: 1_000_000, warmSec: 0.5, preloadKeys: 10_000, watchers: 100, startSec: 30, stopSec: 10, watchdogSec: 1500 },
  floor: { fsyncs: 2000, roundTrips: 20_000, watchdogSec: 60 },
  history: { revisions: [10_000, 100_000, 1_000_000, 10_000_000], keys: 10_000, batch: 10_000, reads: 200_000, readSec: 2, watchdogSec: 900 },
};

export const QUICK: Config = {
  mode: 'quick',
  keys: 5000,
  getMaxTime: 0.2,
  scanMaxTime: 0.2,
  minSamples: 3,
  histKeys: 500,
  histKeysLarge: 1_000,
  histVersions: 20,
  batchTotal: 5000,
  batchSize: 500,
  batchRounds: 2,
  singleWrites: 100,
  singleRounds: 2,
  openKeys: 100,
  openVersions: 100,
  buildBatch: 5000,
  reopens: 3,
  rssChildren: 1,
  roundBudgetSec: 10,
  buildBudgetSec: 20,
  watchdogSec: 90,
  cluster: {
    seqPuts: 200,
    warmPuts: 20,
    embeddedPuts: 100,
    tracePuts: 30,
    putWindow: 64,
    putOps: 5_000,
    putSec: 1,
    getWindow: 256,
    getOps: 10_000,
    getSec: 1,
    rounds: 1,
    getWindowSweep: [],
    sweepSec: 0.5,
    startSec: 30,
    stopSec: 10,
    watchdogSec: 90,
  },
  workloads: { seconds: 0.3, maxOps: 50_000, warmSec: 0.1, preloadKeys: 1000, watchers: 100, startSec: 30, stopSec: 10, watchdogSec: 300 },
  floor: { fsyncs: 200, roundTrips: 2000, watchdogSec: 30 },
  history: { revisions: [10_000, 100_000], keys: 10_000, batch: 10_000, reads: 20_000, readSec: 0.3, watchdogSec: 60 },
};

/** An 8-byte key: one letter naming the key set, then the index in 7 decimal digits (so key order = index order). */
export function key(set: string, i: number): Buffer {
  if (set.length !== 1 || i < 0 || i > 9_999_999) throw new Error(`no 8-byte key for ${set}${i}`);
  return Buffer.from(set + String(i).padStart(7, '0'), 'latin1');
}

export function keys(set: string, n: number, from = 0): Buffer[] {
  const out = new Array<Buffer>(n);
  for (let i = 0; i < n; i++) out[i] = key(set, from + i);
  return out;
}

/** Deterministic pseudo-random numbers in [0, 1), so every run reads the same keys. */
import { mulberry32 as rng } from '../test/support/prng.js';
export { rng };

/** A 256-byte value of pseudo-random bytes. */
export function value(seed = 1): Buffer {
  const r = rng(seed);
  const v = Buffer.allocUnsafe(VALUE_BYTES);
  for (let i = 0; i < v.length; i++) v[i] = Math.floor(r() * 256);
  return v;
}

/** Random indices in [0, n), a power-of-two count of them so a benchmark can cycle with a mask. */
export function randomIndices(n: number, count: number, seed: number): Uint32Array {
  if ((count & (count - 1)) !== 0) throw new Error('count must be a power of two');
  const r = rng(seed);
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) out[i] = Math.floor(r() * n);
  return out;
}

export function now(): bigint {
  return process.hrtime.bigint();
}

export function secondsSince(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Nearest-rank percentile (p in [0, 100]) of values already sorted ascending. */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const rank = Math.min(n, Math.max(1, Math.ceil((p / 100) * n)));
  return sorted[rank - 1]!;
}

export function mean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i]!;
  return xs.length === 0 ? NaN : s / xs.length;
}

/** p50/p90/p99/p99.9/max/mean of latencies (any unit; the result is in the same unit). */
export interface LatencySummary {
  n: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  min: number;
}

export function summarize(latencies: ArrayLike<number>): LatencySummary {
  const s = Float64Array.from(latencies as ArrayLike<number>).sort();
  return {
    n: s.length,
    mean: mean(s),
    p50: percentileSorted(s, 50),
    p90: percentileSorted(s, 90),
    p99: percentileSorted(s, 99),
    p999: percentileSorted(s, 99.9),
    max: s.length ? s[s.length - 1]! : NaN,
    min: s.length ? s[0]! : NaN,
  };
}

export { freePorts } from '../test/support/ports.js';

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface SyncResult {
  /** Operations per second. */
  hz: number;
  /** Relative margin of error, percent. */
  rme: number;
  samples: number;
  /** Mean nanoseconds per operation. */
  meanNs: number;
}

/** Runs one synchronous microbenchmark with benchmark.js (bounded by maxTime). */
export function runSync(name: string, fn: () => void, maxTime: number, minSamples: number): SyncResult {
  const b = new Benchmark(name, fn, { maxTime, minSamples, async: false });
  b.run({ async: false });
  if (b.error !== undefined) throw b.error instanceof Error ? b.error : new Error(`${name}: ${String(b.error)}`);
  if (b.aborted || !(b.hz > 0)) throw new Error(`${name}: benchmark.js measured nothing`);
  return { hz: b.hz, rme: b.stats.rme, samples: b.stats.sample.length, meanNs: b.stats.mean * 1e9 };
}

export const benchmarkVersion = Benchmark.version;

/** Scratch directories, all under one mkdtemp root in os.tmpdir(); removed at the end (or on abort). */
export class Scratch {
  readonly root: string;
  private n = 0;

  constructor() {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), 'axis-bench-'));
  }

  /** A fresh, empty directory. */
  dir(name: string): string {
    const d = path.join(this.root, `${++this.n}-${name}`);
    fs.mkdirSync(d);
    return d;
  }

  remove(dir: string): void {
    fs.rmSync(dir, { recursive: true, force: true });
  }

  removeAll(): void {
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

/** Bytes a directory's files take (apparent size). */
export function dirBytes(dir: string): number {
  let total = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    total += e.isDirectory() ? dirBytes(p) : fs.statSync(p).size;
  }
  return total;
}
