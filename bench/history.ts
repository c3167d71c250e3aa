/**
 * How point reads scale with stored history: one embedded store grown from 10k to 10M revisions
 * (10,000 keys overwritten in turn, nothing compacted), and at each size the latency of a latest
 * get and of a get at a random old revision, every read timed by the load generator.
 */
import { open as openAxis } from '../ts/index.js';
import type { HistogramSummary } from './histogram.js';
import { drive } from './loadgen.js';
import type { Progress } from './progress.js';
import { row, type Row } from './report.js';
import { dirBytes, key, rng, value, type Scratch } from './util.js';

export interface HistoryConfig {
  /** Store sizes, in revisions, at which reads are timed. */
  revisions: number[];
  keys: number;
  /** Puts issued together while building (one commit). */
  batch: number;
  /** Bounds of each timed read run. */
  reads: number;
  readSec: number;
}

export interface HistoryStage {
  revisions: number;
  /** Seconds spent growing the store to this size (from the previous one). */
  buildSeconds: number;
  fileMB: number;
  latest: HistogramSummary;
  old: HistogramSummary;
  latestCurve: [number, number][];
}

export interface HistoryReport {
  what: string;
  stages: HistoryStage[];
}

export async function historySweep(cfg: HistoryConfig, scratch: Scratch, progress: Progress, log: (line: string) => void): Promise<HistoryReport> {
  const dir = scratch.dir('history');
  const largest = Math.max(...cfg.revisions);
  // Room for the largest store (sparse: the file grows as it fills). Building need not be durable.
  const store = await openAxis(dir, { durability: 'nosync', mapSize: Math.max(2, Math.ceil((largest * 1500) / 2 ** 30)) * 2 ** 30 });
  const stages: HistoryStage[] = [];
  const vals = [value(1), value(2)];
  const r = rng(11);
  const keyIdx = Uint32Array.from({ length: 1 << 16 }, () => Math.floor(r() * cfg.keys));
  const revPick = Float64Array.from({ length: 1 << 16 }, () => r());
  const ks = Array.from({ length: cfg.keys }, (_, i) => key('h', i));
  let written = 0;
  try {
    for (const target of [...cfg.revisions].sort((a, b) => a - b)) {
      progress.step(`history: growing the store to ${target.toLocaleString('en-US')} revisions`);
      const t0 = process.hrtime.bigint();
      while (written < target - 1) {
        const n = Math.min(cfg.batch, target - 1 - written);
        const ps = new Array<Promise<unknown>>(n);
        for (let i = 0; i < n; i++, written++) ps[i] = store.put(ks[written % cfg.keys]!, vals[Math.floor(written / cfg.keys) & 1]!);
        await Promise.all(ps);
        progress.update(written / target);
      }
      const buildSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const head = store.status().revision;
      const readOpts = { inFlight: 1, maxOps: cfg.reads, maxSec: cfg.readSec };
      const latest = await drive((i) => store.get(ks[keyIdx[i & 0xffff]!]!), readOpts);
      // Old revisions: uniform over the whole history (a key's newest version at or below it).
      const floor = Math.min(head, cfg.keys + 1);
      const old = await drive((i) => store.get(ks[keyIdx[i & 0xffff]!]!, { revision: floor + Math.floor(revPick[i & 0xffff]! * (head - floor)) }), readOpts);
      const stage: HistoryStage = {
        revisions: head,
        buildSeconds,
        fileMB: dirBytes(dir) / 1e6,
        latest: latest.hist.summary(),
        old: old.hist.summary(),
        latestCurve: latest.hist.percentileCurve(),
      };
      stages.push(stage);
      log(`  ${head.toLocaleString('en-US')} revisions (${stage.fileMB.toFixed(0)} MB, built in ${buildSeconds.toFixed(1)}s): latest get p50 ${stage.latest.p50.toFixed(2)} µs p99 ${stage.latest.p99.toFixed(2)} µs; old-revision get p50 ${stage.old.p50.toFixed(2)} µs p99 ${stage.old.p99.toFixed(2)} µs`);
      progress.finish();
    }
  } finally {
    await store.close();
    scratch.remove(dir);
  }
  return {
    what: `one embedded store, ${cfg.keys.toLocaleString('en-US')} 8-byte keys overwritten in turn with 256-byte values (batches of ${cfg.batch}, durability nosync while building), nothing compacted; at each size ${cfg.reads.toLocaleString('en-US')} (or ${cfg.readSec}s of) synchronous get(k) on random keys, then as many get(k, {revision}) at random revisions, each timed`,
    stages,
  };
}

/** Smallest vs largest store: does a point read stay flat? */
export function historyRows(h: HistoryReport): Row[] {
  if (h.stages.length < 2) return [];
  const a = h.stages[0]!;
  const b = h.stages[h.stages.length - 1]!;
  const n = (x: number): string => x.toLocaleString('en-US');
  const how = `${h.what}; p50 at each size: ${h.stages.map((s) => `${n(s.revisions)} → ${s.latest.p50.toFixed(2)} µs`).join(', ')}`;
  return [
    row({ id: 'H1', figure: 'history', unit: 'µs', title: `history: latest get p50, ${n(b.revisions)} vs ${n(a.revisions)} revisions`, axis: b.latest.p50, baseline: a.latest.p50, baselineLabel: `${n(a.revisions)} revisions`, method: how }),
    row({ id: 'H2', figure: 'history', unit: 'µs', title: `  old-revision get p50, ${n(b.revisions)} vs ${n(a.revisions)} revisions`, axis: b.old.p50, baseline: a.old.p50, baselineLabel: `${n(a.revisions)} revisions`, method: `same stores; p50 at each size: ${h.stages.map((s) => `${n(s.revisions)} → ${s.old.p50.toFixed(2)} µs`).join(', ')}` }),
  ];
}
