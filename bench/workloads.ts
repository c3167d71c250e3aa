/**
 * Request-latency workloads (the shape of etcd's performance page), run by the load generator
 * against every system one after another: 8-byte keys, 256-byte values, durable writes, a fixed
 * number of requests in flight, every request's latency in a histogram.
 */
import type { HistogramSummary } from './histogram.js';
import { Histogram } from './histogram.js';
import { drive, type LoadResult } from './loadgen.js';
import type { Progress } from './progress.js';
import { formatUs as fmtUs, row, type Row } from './report.js';
import { SYSTEM_IDS, SYSTEM_LABELS, startSystem, type KvSystem, type SystemId } from './systems.js';
import { CLK_TCK, machineTicks, readThreads } from './cluster.js';
import { findEtcd } from './etcd.js';
import { VALUE_BYTES, key, rng, sleep, value, type Scratch } from './util.js';

export type WorkloadKind = 'put' | 'get' | 'sget' | 'range' | 'old' | 'mixed' | 'watch';

export interface Workload {
  id: string;
  title: string;
  kind: WorkloadKind;
  inFlight: number;
}

const IN_FLIGHT = [1, 16, 64, 256] as const;

export const WORKLOADS: readonly Workload[] = [
  ...IN_FLIGHT.map((n): Workload => ({ id: `put-${n}`, kind: 'put', inFlight: n, title: n === 1 ? 'sequential puts (1 in flight)' : `puts, ${n} in flight` })),
  ...IN_FLIGHT.map((n): Workload => ({ id: `get-${n}`, kind: 'get', inFlight: n, title: `linearizable gets, ${n} in flight` })),
  ...IN_FLIGHT.map((n): Workload => ({ id: `sget-${n}`, kind: 'sget', inFlight: n, title: `serializable gets, ${n} in flight` })),
  { id: 'range-100', kind: 'range', inFlight: 16, title: 'ranges of 100 keys, 16 in flight' },
  { id: 'get-at-rev', kind: 'old', inFlight: 64, title: 'gets at old revisions, 64 in flight' },
  { id: 'mixed', kind: 'mixed', inFlight: 64, title: '90% gets / 10% puts, 64 in flight' },
  { id: 'watch', kind: 'watch', inFlight: 1, title: 'watch fan-out: 1 writer, 100 watchers (delivery latency)' },
];

export interface WorkloadConfig {
  /** Seconds (and at most `maxOps` requests) per timed workload, after `warmSec` untimed. */
  seconds: number;
  maxOps: number;
  warmSec: number;
  /** Keys written before the reads (each written twice: the first versions are the old revisions read). */
  preloadKeys: number;
  watchers: number;
  startSec: number;
  stopSec: number;
}

/** One workload on one system. Latencies in µs. */
export interface WorkloadResult {
  workload: string;
  system: SystemId;
  inFlight: number;
  skipped?: string;
  error?: string;
  ops?: number;
  errors?: number;
  seconds?: number;
  throughput?: number;
  latency?: HistogramSummary;
  /** [percentile, µs] for the distribution plot. */
  curve?: [number, number][];
  /** Non-empty histogram buckets [lower bound ns, count]. */
  buckets?: [number, number][];
  /** Anything else (misses, the watch writer's own put latency...). */
  notes?: Record<string, unknown>;
}

export interface WorkloadsReport {
  systems: { id: SystemId; label: string; setup?: Record<string, unknown>; skipped?: string; error?: string }[];
  results: WorkloadResult[];
  etcd: { version: string } | { missing: string };
}

function applicable(w: Workload, s: KvSystem): string | undefined {
  if (w.kind === 'sget' && !s.serializable) return 'an embedded read is local: the linearizable gets are the same reads';
  if (w.kind === 'old' && !s.revisions) return 'no revisions';
  if (w.kind === 'watch' && !s.watches) return 'no watches';
  return undefined;
}

/** Puts `n` keys with 64 in flight; the revision each made. */
async function preload(s: KvSystem, n: number, v: Buffer): Promise<Float64Array> {
  const revs = new Float64Array(n);
  const r = await drive(async (i) => {
    revs[i] = await s.put(key('p', i), v);
  }, { inFlight: 64, maxOps: n, maxSec: 600, maxErrors: 0 });
  if (r.errors > 0 || r.ops !== n) throw new Error(`preload: ${r.ops}/${n} puts, ${r.errors} error(s): ${r.firstError}`);
  return revs;
}

const PUT_SETS: Record<number, string> = { 1: 'A', 16: 'B', 64: 'C', 256: 'D' };

class Runner {
  private readonly val = value(3);
  private readonly idx: Uint32Array;
  private misses = 0;

  constructor(
    private readonly s: KvSystem,
    private readonly cfg: WorkloadConfig,
    private readonly firstRevs: Float64Array,
    private readonly progress: Progress,
  ) {
    const r = rng(7);
    this.idx = Uint32Array.from({ length: 1 << 16 }, () => Math.floor(r() * cfg.preloadKeys));
  }

  private found(v: Buffer | undefined): void {
    if (v === undefined || v.length === 0) this.misses++;
  }

  private op(w: Workload): (i: number) => unknown {
    const s = this.s;
    const k = (i: number): Buffer => key('p', this.idx[i & 0xffff]!);
    const check = (v: Buffer | undefined | Promise<Buffer | undefined>): unknown =>
      v instanceof Promise ? v.then((x) => this.found(x)) : this.found(v);
    switch (w.kind) {
      case 'put': {
        const set = PUT_SETS[w.inFlight] ?? 'E';
        return (i) => s.put(key(set, i % 10_000_000), this.val);
      }
      case 'get':
        return (i) => check(s.get(k(i)));
      case 'sget':
        return (i) => check(s.get(k(i), { serializable: true }));
      case 'range': {
        const span = Math.max(1, this.cfg.preloadKeys - 100);
        return (i) => {
          const j = this.idx[i & 0xffff]! % span;
          return s.range(key('p', j), key('p', j + 100), 100);
        };
      }
      case 'old':
        return (i) => {
          const j = this.idx[i & 0xffff]!;
          return check(s.get(key('p', j), { revision: this.firstRevs[j]! }));
        };
      case 'mixed':
        return (i) => (i % 10 === 0 ? s.put(key('M', i % 10_000_000), this.val) : check(s.get(k(i))));
      case 'watch':
        throw new Error('the watch workload has its own driver');
    }
  }

  async run(w: Workload): Promise<WorkloadResult> {
    const base = { workload: w.id, system: this.s.id, inFlight: w.inFlight };
    const skip = applicable(w, this.s);
    if (skip) return { ...base, skipped: skip };
    if (w.kind === 'watch') return { ...base, ...(await this.watchFanOut()) };
    const op = this.op(w);
    // Untimed warm-up (JIT, connections, the servers' batching), on indices the timed run does not reuse.
    const warm = await drive((i) => op(i + 5_000_000), { inFlight: w.inFlight, maxOps: this.cfg.maxOps, maxSec: this.cfg.warmSec });
    if (warm.ops === 0 && warm.errors > 0) throw new Error(`warm-up failed: ${warm.firstError}`);
    this.misses = 0;
    const cpu = new CpuMeter(this.s.pids());
    const r = await drive(op, { inFlight: w.inFlight, maxOps: this.cfg.maxOps, maxSec: this.cfg.seconds, onProgress: (f) => this.progress.update(f) });
    if (r.ops === 0) throw new Error(`no request succeeded: ${r.firstError}`);
    return { ...base, ...summarizeLoad(r), notes: { misses: this.misses, cpu: cpu.stop(r.ops), ...(r.firstError ? { firstError: r.firstError } : {}) } };
  }

  /**
   * One writer puts values carrying their send time (hrtime, the first 8 bytes) one after another;
   * each of `watchers` watches on the prefix records, per event, the time from the put's start to
   * its delivery.
   */
  private async watchFanOut(): Promise<Omit<WorkloadResult, 'workload' | 'system' | 'inFlight'>> {
    const s = this.s;
    const n = this.cfg.watchers;
    const hist = new Histogram();
    const ready = new Uint8Array(n);
    let readyCount = 0;
    let delivered = 0;
    const prefix = Buffer.from('W');
    const watches: { cancel(): void }[] = [];
    try {
      for (let j = 0; j < n; j++) {
        watches.push(await s.watch(prefix, (v) => {
          const ts = v.readBigUInt64LE(0);
          if (ts === 0n) {
            if (!ready[j]) {
              ready[j] = 1;
              readyCount++;
            }
            return;
          }
          hist.recordNs(Number(process.hrtime.bigint() - ts));
          delivered++;
        }));
      }
      // Sentinels (time 0) until every watcher has seen one: all watches are live.
      const sentinel = Buffer.alloc(VALUE_BYTES);
      const until = Date.now() + this.cfg.startSec * 1000;
      for (let i = 0; readyCount < n; i++) {
        if (Date.now() > until) throw new Error(`only ${readyCount}/${n} watches delivered within ${this.cfg.startSec}s`);
        await s.put(key('W', 9_000_000 + i), sentinel);
        await sleep(50);
      }
      const cpu = new CpuMeter(s.pids());
      const putHist = new Histogram();
      const v = Buffer.from(this.val);
      const t0 = process.hrtime.bigint();
      const end = t0 + BigInt(Math.round(this.cfg.seconds * 1e9));
      let puts = 0;
      for (let i = 0; puts < this.cfg.maxOps; i++) {
        const ts = process.hrtime.bigint();
        if (ts >= end) break;
        v.writeBigUInt64LE(ts, 0);
        await s.put(key('W', i), v);
        putHist.recordSince(ts);
        puts++;
        if ((i & 15) === 0) this.progress.update(Number(ts - t0) / (this.cfg.seconds * 1e9));
      }
      const writeSec = Number(process.hrtime.bigint() - t0) / 1e9;
      const expected = puts * n;
      const wait = Date.now() + 10_000;
      while (delivered < expected && Date.now() < wait) await sleep(5);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      return {
        ops: delivered,
        errors: expected - delivered,
        seconds,
        throughput: delivered / seconds,
        latency: hist.summary(),
        curve: hist.percentileCurve(),
        buckets: hist.buckets(),
        notes: {
          watchers: n,
          puts,
          putsPerSec: puts / writeSec,
          undelivered: expected - delivered,
          writerPutLatencyUs: putHist.summary(),
          cpu: cpu.stop(delivered),
          measured: 'per event: from the start of the put that made it to its delivery to the watcher, in this process',
        },
      };
    } finally {
      for (const w of watches) w.cancel();
    }
  }
}

/** CPU over a timed run: the servers', this process's (the client or the embedded store), and everybody else's. */
class CpuMeter {
  private readonly machine = machineTicks();
  private readonly self = process.cpuUsage();
  private readonly servers: number;

  constructor(private readonly pids: number[]) {
    this.servers = this.serverTicks();
  }

  private serverTicks(): number {
    return this.pids.reduce((n, pid) => n + readThreads(pid).reduce((m, t) => m + t.ticks, 0), 0);
  }

  stop(ops: number): { serverSec: number; benchSec: number; otherSec: number; machineBusy: number; cpuUsPerOp: number } {
    const m = machineTicks();
    const u = process.cpuUsage(this.self);
    const serverSec = (this.serverTicks() - this.servers) / CLK_TCK;
    const benchSec = (u.user + u.system) / 1e6;
    const busySec = (m.busy - this.machine.busy) / CLK_TCK;
    return {
      serverSec,
      benchSec,
      otherSec: Math.max(0, busySec - serverSec - benchSec),
      machineBusy: (m.busy - this.machine.busy) / (m.total - this.machine.total),
      cpuUsPerOp: ops > 0 ? ((serverSec + benchSec) * 1e6) / ops : NaN,
    };
  }
}

function summarizeLoad(r: LoadResult): Omit<WorkloadResult, 'workload' | 'system' | 'inFlight' | 'notes'> {
  return {
    ops: r.ops,
    errors: r.errors,
    seconds: r.seconds,
    throughput: r.throughput,
    latency: r.hist.summary(),
    curve: r.hist.percentileCurve(),
    buckets: r.hist.buckets(),
  };
}

type Only = { systems?: readonly SystemId[]; workloads?: readonly string[] };

/** The systems (etcd only when its binary is there) and workloads a run covers. */
function selection(only?: Only): { systems: SystemId[]; workloads: Workload[] } {
  const etcd = findEtcd();
  return {
    systems: (only?.systems ?? SYSTEM_IDS).filter((id) => id !== 'etcd-3' || !('missing' in etcd)),
    workloads: WORKLOADS.filter((w) => !only?.workloads || only.workloads.includes(w.id)),
  };
}

/** Progress steps of a run: per system, its start and preload, then each workload. */
export function workloadSteps(only?: Only): number {
  const { systems, workloads } = selection(only);
  return systems.length * (workloads.length + 1);
}

/** Runs every workload on every system (one system at a time); never throws for one system's failure. */
export async function runWorkloads(
  cfg: WorkloadConfig,
  scratch: Scratch,
  log: (line: string) => void,
  progress: Progress,
  only?: Only,
): Promise<WorkloadsReport> {
  const etcd = findEtcd();
  const { systems, workloads } = selection(only);
  const report: WorkloadsReport = { systems: [], results: [], etcd: 'missing' in etcd ? { missing: etcd.missing } : { version: etcd.version } };
  if ('missing' in etcd) {
    log(`  etcd: not measured (${etcd.missing})`);
    report.systems.push({ id: 'etcd-3', label: SYSTEM_LABELS['etcd-3'], skipped: etcd.missing });
  }
  for (const id of systems) {
    const label = SYSTEM_LABELS[id];
    progress.step(`${label}: starting, preloading ${cfg.preloadKeys.toLocaleString('en-US')} keys`);
    log(`» ${label}`);
    let s: KvSystem | undefined;
    try {
      s = await startSystem(id, scratch, log, { startSec: cfg.startSec, stopSec: cfg.stopSec });
      const firstRevs = await preload(s, cfg.preloadKeys, value(1));
      await preload(s, cfg.preloadKeys, value(2));
      report.systems.push({ id, label, setup: s.describe() });
      progress.finish();
      const runner = new Runner(s, cfg, firstRevs, progress);
      for (const w of workloads) {
        progress.step(`${label}: ${w.title}`);
        let res: WorkloadResult;
        try {
          res = await runner.run(w);
        } catch (err) {
          res = { workload: w.id, system: id, inFlight: w.inFlight, error: err instanceof Error ? err.message : String(err) };
        }
        report.results.push(res);
        log(`  ${describeResult(w, res)}`);
        progress.finish();
      }
    } catch (err) {
      const msg = err instanceof Error ? (err.stack ?? err.message) : String(err);
      log(`  ${label} FAILED: ${msg}`);
      report.systems.push({ id, label, error: msg });
      for (let i = 0; i <= workloads.length; i++) progress.finish(); // it failed before its first workload
    } finally {
      await s?.close().catch((err: unknown) => log(`  ${label} close: ${String(err)}`));
    }
  }
  return report;
}

function fmtRate(x: number | undefined): string {
  return x === undefined || !Number.isFinite(x) ? '—' : `${Math.round(x).toLocaleString('en-US')}/s`;
}

function describeResult(w: Workload, r: WorkloadResult): string {
  if (r.skipped) return `${w.id}: skipped (${r.skipped})`;
  if (r.error) return `${w.id}: FAILED: ${r.error}`;
  const l = r.latency!;
  const extra = r.errors ? `, ${r.errors} errors` : '';
  const miss = (r.notes?.misses as number | undefined) ? `, ${String(r.notes!.misses)} MISSES` : '';
  const cpu = r.notes?.cpu as ReturnType<CpuMeter['stop']> | undefined;
  const load = cpu ? `  [${cpu.cpuUsPerOp.toFixed(0)} CPU-µs/op; machine ${(cpu.machineBusy * 100).toFixed(0)}% busy, others ${(cpu.otherSec / r.seconds! * 100).toFixed(0)}% of a core]` : '';
  return `${w.id}: ${fmtRate(r.throughput)}  p50 ${fmtUs(l.p50)}  p90 ${fmtUs(l.p90)}  p99 ${fmtUs(l.p99)}  p99.9 ${fmtUs(l.p999)}  max ${fmtUs(l.max)}${extra}${miss}${load}`;
}

export function findResult(rep: WorkloadsReport, workload: string, system: SystemId): WorkloadResult | undefined {
  const r = rep.results.find((x) => x.workload === workload && x.system === system);
  return r && !r.skipped && !r.error ? r : undefined;
}

/** The terminal table: one line per workload and system. */
export function workloadTable(rep: WorkloadsReport): string {
  const head = ['workload', 'system', 'throughput', 'p50', 'p90', 'p99', 'p99.9', 'max'];
  const lines: string[][] = [head];
  for (const w of WORKLOADS) {
    for (const r of rep.results.filter((x) => x.workload === w.id)) {
      if (r.skipped) continue;
      const l = r.latency;
      lines.push(r.error
        ? [w.id, SYSTEM_LABELS[r.system], 'FAILED', '', '', '', '', '']
        : [w.id, SYSTEM_LABELS[r.system], fmtRate(r.throughput), fmtUs(l?.p50), fmtUs(l?.p90), fmtUs(l?.p99), fmtUs(l?.p999), fmtUs(l?.max)]);
    }
  }
  const widths = head.map((_, c) => Math.max(...lines.map((l) => l[c]!.length)));
  const fmt = (l: string[]): string => l.map((x, c) => (c < 2 ? x.padEnd(widths[c]!) : x.padStart(widths[c]!))).join('  ').trimEnd();
  return [fmt(head), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.slice(1).map(fmt)].join('\n');
}

/** The Markdown matrix for the README: a workload per row, a system per column, "throughput · p50 / p99". */
export function workloadMarkdown(rep: WorkloadsReport): string {
  const systems = SYSTEM_IDS.filter((id) => rep.results.some((r) => r.system === id));
  const out = [`| workload | ${systems.map((s) => SYSTEM_LABELS[s]).join(' | ')} |`, `| --- | ${systems.map(() => '---:').join(' | ')} |`];
  for (const w of WORKLOADS) {
    const cells = systems.map((id) => {
      const r = rep.results.find((x) => x.workload === w.id && x.system === id);
      if (!r || r.skipped) return '—';
      if (r.error) return 'failed';
      return `${fmtRate(r.throughput)} · ${fmtUs(r.latency!.p50)} / ${fmtUs(r.latency!.p99)}`;
    });
    out.push(`| ${w.title} | ${cells.join(' | ')} |`);
  }
  return out.join('\n');
}

/** The targets for the 3-member cluster, as ratios to etcd measured in the same run. */
export function etcdRatioRows(rep: WorkloadsReport): Row[] {
  if (!rep.results.some((r) => r.system === 'axis-3')) return [];
  const pair = (w: string): [WorkloadResult | undefined, WorkloadResult | undefined] => [findResult(rep, w, 'axis-3'), findResult(rep, w, 'etcd-3')];
  const rows: Row[] = [];
  const missing = 'missing' in rep.etcd ? ` (etcd not measured: ${rep.etcd.missing})` : '';
  const method = (w: string): string => `load generator, same workload and concurrency on both (workload ${w}); Axis 3 members vs etcd 3 members, both on 127.0.0.1, same run${missing}`;
  {
    const [a, e] = pair('put-64');
    rows.push(row({ id: 'E1', figure: 'workloads', unit: 'ops/s', title: 'Axis 3 vs etcd 3: put throughput, 64 in flight', axis: a?.throughput ?? NaN, baseline: e?.throughput, baselineLabel: 'etcd', target: { cmp: '>=', value: 3 }, method: method('put-64') }));
  }
  {
    const [a, e] = pair('put-1');
    rows.push(row({ id: 'E2', figure: 'workloads', unit: 'ms', title: 'Axis 3 vs etcd 3: sequential put p50', axis: (a?.latency?.p50 ?? NaN) / 1000, baseline: e?.latency ? e.latency.p50 / 1000 : undefined, baselineLabel: 'etcd', target: { cmp: '<=', value: 0.5 }, method: method('put-1') }));
  }
  {
    const [a, e] = pair('get-64');
    rows.push(row({ id: 'E3', figure: 'workloads', unit: 'ops/s', title: 'Axis 3 vs etcd 3: linearizable get throughput, 64 in flight', axis: a?.throughput ?? NaN, baseline: e?.throughput, baselineLabel: 'etcd', target: { cmp: '>=', value: 3 }, method: method('get-64') }));
  }
  const info: [string, string, 'throughput' | 'p50'][] = [
    ['sget-64', 'serializable get throughput, 64 in flight', 'throughput'],
    ['range-100', 'range (100 keys) throughput, 16 in flight', 'throughput'],
    ['get-at-rev', 'old-revision get throughput, 64 in flight', 'throughput'],
    ['mixed', '90/10 mixed throughput, 64 in flight', 'throughput'],
    ['watch', 'watch event delivery p50 (100 watchers)', 'p50'],
  ];
  info.forEach(([w, title, what], k) => {
    const [a, e] = pair(w);
    const tp = what === 'throughput';
    rows.push(row({
      id: `E${4 + k}`, figure: 'workloads', unit: tp ? 'ops/s' : 'ms', title: `  Axis 3 vs etcd 3: ${title}`,
      axis: tp ? (a?.throughput ?? NaN) : (a?.latency?.p50 ?? NaN) / 1000,
      baseline: tp ? e?.throughput : e?.latency ? e.latency.p50 / 1000 : undefined, baselineLabel: 'etcd', method: method(w),
    }));
  });
  return rows;
}
