/**
 * `npm run bench`: every section, in this order, by default.
 *
 * - embedded: Axis embedded vs raw lmdb-js with benchmark.js, same machine, same workload (8-byte
 *   keys, 256-byte values, durable writes). Figures 1 get, 2 get-old, 3 batch-write, 4 single-write,
 *   5 range, 6 open (bench/embedded.ts).
 * - cluster: a real 3-member cluster (three `axis serve` processes on 127.0.0.1) and a client in this
 *   process, with what each member did. Figures 7 put-latency, 8 put-throughput, 9 get-linearizable,
 *   10 get-serializable (bench/cluster.ts).
 * - floor: one fdatasync, one ZeroMQ loopback round trip (bench/floor.ts).
 * - workloads: the load generator (bench/loadgen.ts) against embedded Axis, lmdb-js, a 1-member and
 *   a 3-member Axis cluster, and a 3-member etcd when the binary is installed: puts and gets at
 *   1/16/64/256 in flight, ranges, old revisions, 90/10 mixed, watch fan-out (bench/workloads.ts);
 *   ratios to etcd.
 * - history: point-read latency as stored history grows from 10k to 10M revisions (bench/history.ts).
 *
 *   node dist/bench/main.js [--quick] [--only <section|figure|workload>] [--systems a,b] [--profile] [--no-perf]
 *
 * Prints each section's table, a progress bar on a terminal, and writes bench/results/<YYYY-MM-DD>.json
 * (every figure, the machine, the versions) and <YYYY-MM-DD>.html (the self-contained report); a
 * --quick, --only, --systems or --profile run writes <YYYY-MM-DD>-quick.json, -only-<x>, ... instead.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CLUSTER_FIGURES, CLUSTER_FIRST_NUMBER, ClusterBench, TARGETS, type ClusterFigure, describeProfile,
  profileDirectory, summarizeProfiles, type ProfileSummary,
} from './cluster.js';
import { killChildren } from './children.js';
import { Embedded, FIGURES, sinkValue, type FigureName } from './embedded.js';
import { measureFloor, threeMemberPutFloor, type FloorReport } from './floor.js';
import { historyRows, historySweep, type HistoryReport } from './history.js';
import { renderHtml, reportTitle } from './html.js';
import { Progress } from './progress.js';
import { formatUs as fmtUs, machine, markdownTable, methods, row, terminalTable, today, writeJson, type Row } from './report.js';
import { SYSTEM_IDS, SYSTEM_LABELS, type SystemId } from './systems.js';
import { WORKLOADS, etcdRatioRows, findResult, runWorkloads, workloadMarkdown, workloadSteps, workloadTable, type WorkloadsReport } from './workloads.js';
import { FULL, KEY_BYTES, QUICK, Scratch, VALUE_BYTES, benchmarkVersion, secondsSince, now, type Config } from './util.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const SECTIONS = ['embedded', 'cluster', 'floor', 'workloads', 'history'] as const;
type Section = (typeof SECTIONS)[number];

interface Args {
  quick: boolean;
  /** Sections to run (both by default). */
  sections: Section[];
  /** One figure only (its section's). */
  figure?: FigureName | ClusterFigure;
  /** One workload only (the workloads section). */
  workload?: string;
  /** The workloads section's systems (all by default). */
  systems?: SystemId[];
  profile: boolean;
  /** Count the cluster members' syscalls with perf (when it works). */
  perf: boolean;
}

const ALL_FIGURES: readonly (FigureName | ClusterFigure)[] = [...FIGURES, ...CLUSTER_FIGURES];

function usage(): string {
  return [
    'usage: node dist/bench/main.js [--quick] [--only <section|figure|workload>] [--systems a,b] [--profile] [--no-perf]',
    '  --quick          small counts, a smoke run (a couple of minutes)',
    `  --only <x>       run one section (${SECTIONS.join(', ')}), one figure: ` + ALL_FIGURES.map((f, i) => `${i + 1}|${f}`).join(', '),
    `                   or one workload: ${WORKLOADS.map((w) => w.id).join(', ')}`,
    `  --systems a,b    the workloads' systems (${SYSTEM_IDS.join(', ')}; default all)`,
    '  --profile        cluster section: start the members with --cpu-prof and summarize where each',
    '                   figure\'s time went (profiles kept under the OS temp dir; numbers are perturbed)',
    '  --no-perf        cluster section: do not count the members\' syscalls with `perf stat`',
  ].join('\n');
}

function parseArgs(argv: string[]): Args {
  let quick = false;
  let profile = false;
  let perf = true;
  let only: string | undefined;
  let systems: SystemId[] | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') {
      quick = true;
    } else if (a === '--profile') {
      profile = true;
    } else if (a === '--no-perf') {
      perf = false;
    } else if (a === '--systems' || a.startsWith('--systems=')) {
      const v = a === '--systems' ? argv[++i] : a.slice('--systems='.length);
      systems = (v ?? '').split(',').filter(Boolean) as SystemId[];
      const bad = systems.filter((x) => !(SYSTEM_IDS as readonly string[]).includes(x));
      if (systems.length === 0 || bad.length) throw new Error(`--systems takes some of ${SYSTEM_IDS.join(', ')}, got ${v}\n${usage()}`);
    } else if (a === '--only' || a.startsWith('--only=')) {
      only = a === '--only' ? argv[++i] : a.slice('--only='.length);
      if (only === undefined) throw new Error(`--only needs a section or figure\n${usage()}`);
    } else if (a === '--help' || a === '-h') {
      console.log(usage());
      process.exit(0);
    } else {
      throw new Error(`unknown argument ${a}\n${usage()}`);
    }
  }
  let sections: Section[] = [...SECTIONS];
  let figure: FigureName | ClusterFigure | undefined;
  let workload: string | undefined;
  if (only !== undefined) {
    if ((SECTIONS as readonly string[]).includes(only)) {
      sections = [only as Section];
    } else if (WORKLOADS.some((w) => w.id === only) && !(ALL_FIGURES as readonly string[]).includes(only)) {
      workload = only;
      sections = ['workloads'];
    } else {
      const byNumber = /^\d{1,2}$/.test(only) ? ALL_FIGURES[Number(only) - 1] : undefined;
      figure = byNumber ?? ALL_FIGURES.find((f) => f === only);
      if (!figure) throw new Error(`--only needs one of ${SECTIONS.join(', ')}, ${ALL_FIGURES.join(', ')} (or 1-${ALL_FIGURES.length}), ${WORKLOADS.map((w) => w.id).join(', ')}, got ${only}\n${usage()}`);
      sections = [(CLUSTER_FIGURES as readonly string[]).includes(figure) ? 'cluster' : 'embedded'];
    }
  }
  if (profile && !sections.includes('cluster')) throw new Error(`--profile is for the cluster section\n${usage()}`);
  if (profile) sections = ['cluster'];
  if (systems && only === undefined) sections = ['workloads'];
  return { quick, sections, figure, workload, systems, profile, perf };
}

function packageVersion(dir: string): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** The commit measured, and the tracked files outside bench/ that differed from it (others edit the tree while benches run). */
function gitState(): { head: string; dirty: string[] } {
  try {
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8', timeout: 10_000 }).trim();
    const dirty = execFileSync('git', ['status', '--short'], { cwd: root, encoding: 'utf8', timeout: 10_000 })
      .split('\n').filter((l) => l.trim() && !l.startsWith('??') && !/^.. bench\//.test(l)).map((l) => l.trim());
    return { head, dirty };
  } catch {
    return { head: 'unknown', dirty: [] };
  }
}

function versions(): Record<string, unknown> {
  return {
    git: gitState(),
    axis: packageVersion(root),
    lmdb: packageVersion(path.join(root, 'node_modules', 'lmdb')),
    zeromq: packageVersion(path.join(root, 'node_modules', 'zeromq')),
    protobufjs: packageVersion(path.join(root, 'node_modules', 'protobufjs')),
    benchmark: benchmarkVersion,
    node: process.version,
  };
}

/** The figure runs of one section: prints each row as it comes, collects rows and errors. */
async function runFigures<F extends string>(
  figures: readonly F[],
  number: (f: F) => number,
  run: (f: F) => Promise<Row[]>,
  progress: Progress,
  section: string,
): Promise<{ rows: Row[]; errors: { figure: string; error: string }[] }> {
  const rows: Row[] = [];
  const errors: { figure: string; error: string }[] = [];
  for (const f of figures) {
    const tf = now();
    progress.step(`${section}: ${number(f)}. ${f}`);
    console.log(`» ${number(f)}. ${f}`);
    try {
      const r = await run(f);
      rows.push(...r);
      for (const x of r) {
        const ratio = x.ratio === undefined ? '' : `  ratio ${x.ratio.toFixed(2)}`;
        const met = x.ok === undefined ? '' : x.target?.of === 'value' ? `  target ${x.target.cmp} ${x.target.value}: ${x.ok ? 'met' : 'NOT MET'}` : '';
        console.log(`  ${x.id}: Axis ${x.axis.toFixed(x.axis < 100 ? 3 : 0)} ${x.unit}` +
          (x.baseline === undefined ? '' : `, baseline ${x.baseline.toFixed(x.baseline < 100 ? 3 : 0)} ${x.unit}`) + ratio + met);
      }
    } catch (err) {
      const msg = err instanceof Error ? (err.stack ?? err.message) : String(err);
      errors.push({ figure: f, error: msg });
      console.error(`  FAILED: ${msg}`);
    }
    console.log(`  (${secondsSince(tf).toFixed(1)}s)`);
    progress.finish();
  }
  return { rows, errors };
}

/** Prints a section's table and how each row was measured; its Markdown. */
function printTables(rows: Row[]): string {
  if (rows.length === 0) return '';
  console.log('');
  console.log(terminalTable(rows));
  console.log('');
  console.log('how each row was measured:');
  console.log(methods(rows));
  return markdownTable(rows);
}

function suffix(args: Args): string {
  const parts = [
    args.quick ? 'quick' : '',
    args.figure ? `only-${args.figure}` : args.workload ? `only-${args.workload}` : args.sections.length === 1 && !args.systems ? `only-${args.sections[0]}` : '',
    args.systems ? `systems-${args.systems.join('-')}` : '',
    args.profile ? 'profile' : '',
    !args.perf && args.sections.includes('cluster') ? 'no-perf' : '',
  ];
  const s = parts.filter(Boolean).join('-');
  return s ? `-${s}` : '';
}

/** What one section measured: its table rows, its failures, and everything else for the JSON file. */
interface SectionResult {
  rows: Row[];
  errors: { figure: string; error: string }[];
  data: Record<string, unknown>;
}

/** Everything one run measured, for the combined JSON and HTML. */
interface RunState {
  floor?: FloorReport;
  workloads?: WorkloadsReport;
  history?: HistoryReport;
}

function embeddedFigures(args: Args): readonly FigureName[] {
  return args.figure ? [args.figure as FigureName] : FIGURES;
}

function clusterFigures(args: Args): readonly ClusterFigure[] {
  return args.figure ? [args.figure as ClusterFigure] : CLUSTER_FIGURES;
}

/** Progress steps of a section, so the bar measures the whole run from the start. */
function steps(s: Section, args: Args, cfg: Config): number {
  switch (s) {
    case 'embedded': return embeddedFigures(args).length;
    case 'cluster': return clusterFigures(args).length;
    case 'floor': return 1;
    case 'workloads': return workloadSteps({ systems: args.systems, workloads: args.workload ? [args.workload] : undefined });
    case 'history': return cfg.history.revisions.length;
  }
}

async function embeddedSection(args: Args, cfg: Config, scratch: Scratch, progress: Progress): Promise<SectionResult> {
  const figures = embeddedFigures(args);
  const startedAt = new Date();
  const t0 = now();
  console.log(`axis-kv embedded bench (${cfg.mode}${args.figure ? `, only ${args.figure}` : ''})`);
  console.log(`workload: ${KEY_BYTES}-byte keys, ${VALUE_BYTES}-byte values; Axis durability 'sync'; lmdb-js default options; data under ${scratch.root}`);
  const bench = new Embedded(cfg, scratch, (line) => console.log(line));
  let res: Awaited<ReturnType<typeof runFigures>>;
  try {
    res = await runFigures(figures, (f) => FIGURES.indexOf(f) + 1, (f) => bench.run(f), progress, 'embedded');
  } finally {
    await bench.close().catch((err: unknown) => console.error(`embedded close: ${String(err)}`));
  }
  const { rows, errors } = res;
  const md = printTables(rows);
  return {
    rows,
    errors,
    data: {
      bench: 'axis-kv embedded vs lmdb-js (benchmark.js)',
      startedAt: startedAt.toISOString(),
      durationSeconds: Math.round(secondsSince(t0) * 10) / 10,
      workload: {
        keyBytes: KEY_BYTES,
        valueBytes: VALUE_BYTES,
        axis: { durability: 'sync' },
        lmdb: 'default options (msgpack values, ordered-binary keys, overlappingSync on Linux)',
        config: { ...cfg, cluster: undefined, workloads: undefined, floor: undefined, history: undefined },
      },
      markdown: md,
      sink: sinkValue(),
    },
  };
}

async function clusterSection(args: Args, cfg: Config, scratch: Scratch, progress: Progress): Promise<SectionResult> {
  const figures = clusterFigures(args);
  const startedAt = new Date();
  const t0 = now();
  const profileDir = args.profile ? profileDirectory() : undefined;
  console.log(`axis-kv cluster bench (${cfg.mode}${args.figure ? `, only ${args.figure}` : ''}${args.profile ? ', PROFILING: members run with --cpu-prof' : ''})`);
  console.log(`workload: 3 members (axis serve) on 127.0.0.1, durability 'sync', default ticks; one client in this process; ${KEY_BYTES}-byte keys, ${VALUE_BYTES}-byte values; data under ${scratch.root}`);
  const bench = new ClusterBench(cfg.cluster, scratch, (line) => console.log(line), { profileDir, perf: args.perf });
  let res: Awaited<ReturnType<typeof runFigures>> = { rows: [], errors: [] };
  try {
    await bench.start();
    res = await runFigures(figures, (f) => CLUSTER_FIGURES.indexOf(f) + CLUSTER_FIRST_NUMBER, (f) => bench.run(f), progress, 'cluster');
  } catch (err) {
    const msg = err instanceof Error ? (err.stack ?? err.message) : String(err);
    res.errors.push({ figure: 'start', error: msg });
    console.error(`  cluster did not come up: ${msg}`);
  } finally {
    await bench.close().catch((err: unknown) => res.errors.push({ figure: 'close', error: String(err) }));
  }
  const { rows, errors } = res;
  let profiles: ProfileSummary[] = [];
  if (profileDir) {
    profiles = summarizeProfiles(profileDir, bench.memberPids(), bench.phaseReports());
    console.log('');
    console.log(`CPU profiles (JS main thread of each member, cut to each figure's window; files in ${profileDir}):`);
    for (const p of profiles) console.log(describeProfile(p).join('\n'));
  }
  const md = printTables(rows);
  return {
    rows,
    errors,
    data: {
      bench: 'axis-kv 3-member cluster, client in the bench process',
      startedAt: startedAt.toISOString(),
      durationSeconds: Math.round(secondsSince(t0) * 10) / 10,
      profiling: args.profile,
      workload: {
        keyBytes: KEY_BYTES,
        valueBytes: VALUE_BYTES,
        cluster: '3 members, one process each, 127.0.0.1, durability sync, tick 100 ms, election 10 ticks (defaults)',
        client: 'connect({endpoints: all 3}) in the bench process; writes go to the leader it learns, reads round-robin over members',
        config: cfg.cluster,
        targets: TARGETS,
      },
      cluster: bench.info(),
      markdown: md,
      profiles: profiles.length ? { dir: profileDir, summaries: profiles } : null,
    },
  };
}

async function floorSection(cfg: Config, scratch: Scratch, progress: Progress, state: RunState): Promise<SectionResult> {
  console.log('the physical floor: fdatasync on the data directory\'s disk, ZeroMQ round trip on loopback');
  progress.step('floor: fdatasync, ZeroMQ round trip');
  try {
    const f = await measureFloor(cfg.floor, scratch);
    state.floor = f;
    console.log(`  fdatasync p50 ${fmtUs(f.fdatasync.latency.p50)}, p99 ${fmtUs(f.fdatasync.latency.p99)}; ZeroMQ round trip p50 ${fmtUs(f.zmqRoundTrip.latency.p50)}, p99 ${fmtUs(f.zmqRoundTrip.latency.p99)}`);
    return { rows: [], errors: [], data: { ...f } };
  } catch (err) {
    const msg = err instanceof Error ? (err.stack ?? err.message) : String(err);
    console.error(`  FAILED: ${msg}`);
    return { rows: [], errors: [{ figure: 'floor', error: msg }], data: {} };
  } finally {
    progress.finish();
  }
}

async function workloadsSection(args: Args, cfg: Config, scratch: Scratch, progress: Progress, state: RunState): Promise<SectionResult> {
  const w = cfg.workloads;
  console.log(`workloads (${cfg.mode}): the load generator, ${KEY_BYTES}-byte keys, ${VALUE_BYTES}-byte values, durable writes; ${w.seconds}s (at most ${w.maxOps.toLocaleString('en-US')} requests) per workload after ${w.warmSec}s untimed; ${w.preloadKeys.toLocaleString('en-US')} keys preloaded twice; data under ${scratch.root}`);
  const rep = await runWorkloads(w, scratch, (line) => console.log(line), progress, { systems: args.systems, workloads: args.workload ? [args.workload] : undefined });
  state.workloads = rep;
  console.log('');
  console.log(workloadTable(rep));
  const rows = etcdRatioRows(rep);
  printTables(rows);
  const errors = [
    ...rep.systems.filter((s) => s.error).map((s) => ({ figure: s.id, error: s.error! })),
    ...rep.results.filter((r) => r.error).map((r) => ({ figure: `${r.workload}@${r.system}`, error: r.error! })),
  ];
  return { rows, errors, data: { config: w, markdown: workloadMarkdown(rep), ...rep } };
}

async function historySection(cfg: Config, scratch: Scratch, progress: Progress, state: RunState): Promise<SectionResult> {
  const h = cfg.history;
  console.log(`stored history: point reads in one embedded store at ${h.revisions.map((r) => r.toLocaleString('en-US')).join(', ')} revisions`);
  try {
    const rep = await historySweep(h, scratch, progress, (line) => console.log(line));
    state.history = rep;
    const rows = historyRows(rep);
    printTables(rows);
    return { rows, errors: [], data: { config: h, ...rep } };
  } catch (err) {
    const msg = err instanceof Error ? (err.stack ?? err.message) : String(err);
    console.error(`  FAILED: ${msg}`);
    return { rows: [], errors: [{ figure: 'history', error: msg }], data: {} };
  }
}

/** How close durable writes come to the floor: sequential put p50 over one fdatasync. */
function floorRows(state: RunState): Row[] {
  const f = state.floor;
  if (!f) return [];
  const fs = f.fdatasync.latency;
  const rows: Row[] = [
    row({ id: 'F1', figure: 'floor', unit: 'ms', title: 'floor: one fdatasync, p50', axis: fs.p50 / 1000, method: `${f.fdatasync.what}; p90 ${fmtUs(fs.p90)}, p99 ${fmtUs(fs.p99)}, max ${fmtUs(fs.max)}` }),
    row({ id: 'F2', figure: 'floor', unit: 'ms', title: 'floor: ZeroMQ loopback round trip, p50', axis: f.zmqRoundTrip.latency.p50 / 1000, method: `${f.zmqRoundTrip.what}; p99 ${fmtUs(f.zmqRoundTrip.latency.p99)}` }),
  ];
  const w = state.workloads;
  const pr = f.zmqProcessRoundTrip?.latency;
  if (pr) {
    rows.push(row({ id: 'F2b', figure: 'floor', unit: 'ms', title: '  ZeroMQ loopback round trip between two processes, p50', axis: pr.p50 / 1000, method: `${f.zmqProcessRoundTrip!.what}; p99 ${fmtUs(pr.p99)}` }));
    const put3 = threeMemberPutFloor(f)! / 1000;
    rows.push(row({ id: 'F2c', figure: 'floor', unit: 'ms', title: '  floor of a 3-member put: two round trips between processes + one fdatasync', axis: put3, method: 'client ↔ leader and leader ↔ a follower (F2b each) around the follower\'s fdatasync (F1); the leader\'s own fdatasync overlaps the follower\'s. No processing counted' }));
    const etcd = w && findResult(w, 'put-1', 'etcd-3');
    if (etcd?.latency) {
      rows.push(row({
        id: 'F2d', figure: 'floor', unit: 'ms', title: '  E2\'s target (0.5 × etcd\'s sequential put p50) vs that floor', axis: (0.5 * etcd.latency.p50) / 1000, baseline: put3, baselineLabel: 'F2c',
        method: 'a ratio under 1 means the target is faster than two round trips between processes and one fdatasync, with no work done',
      }));
    }
  }
  const systems: [SystemId, string][] = [['axis-embedded', 'F3'], ['axis-1', 'F4'], ['axis-3', 'F5'], ['etcd-3', 'F6']];
  for (const [id, n] of systems) {
    const r = w && findResult(w, 'put-1', id);
    if (!r?.latency) continue;
    rows.push(row({
      id: n, figure: 'floor', unit: 'ms', title: `  ${SYSTEM_LABELS[id]}: sequential durable put p50 vs one fdatasync`,
      axis: r.latency.p50 / 1000, baseline: fs.p50 / 1000, baselineLabel: 'one fdatasync, p50',
      method: `workload put-1 (one put at a time) p50 over the fdatasync p50 measured in the same run: ${(r.latency.p50 / fs.p50).toFixed(1)} fdatasyncs' time`,
    }));
  }
  return rows;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const cfg = args.quick ? QUICK : FULL;
  const scratch = new Scratch();
  const progress = new Progress();
  const cleanup = (): void => {
    progress.close();
    killChildren();
    try {
      scratch.removeAll();
    } catch {
      // best effort: the process is leaving
    }
  };
  // Bound the whole run: a hung figure must not hang the bench.
  const share: Record<Section, number> = {
    embedded: cfg.watchdogSec, cluster: cfg.cluster.watchdogSec, floor: cfg.floor.watchdogSec, workloads: cfg.workloads.watchdogSec, history: cfg.history.watchdogSec,
  };
  const budget = args.sections.reduce((n, s) => n + share[s], 0);
  const watchdog = setTimeout(() => {
    console.error(`\nbench: abandoned after ${budget}s (watchdog); child processes killed, scratch data removed`);
    cleanup();
    process.exit(3);
  }, budget * 1000);
  watchdog.unref();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      cleanup();
      process.exit(130);
    });
  }

  const m = machine();
  const startedAt = new Date();
  const t0 = now();
  console.log(`machine: ${m.cpu}, ${m.cores} cores, ${m.totalMemoryGB} GiB, node ${m.node}, ${m.platform} ${m.release}`);
  const state: RunState = {};
  progress.plan(args.sections.reduce((n, s) => n + steps(s, args, cfg), 0));
  const results: Partial<Record<Section, SectionResult>> = {};
  try {
    for (const s of args.sections) {
      console.log('');
      switch (s) {
        case 'embedded': results.embedded = await embeddedSection(args, cfg, scratch, progress); break;
        case 'cluster': results.cluster = await clusterSection(args, cfg, scratch, progress); break;
        case 'floor': results.floor = await floorSection(cfg, scratch, progress, state); break;
        case 'workloads': results.workloads = await workloadsSection(args, cfg, scratch, progress, state); break;
        case 'history': results.history = await historySection(cfg, scratch, progress, state); break;
      }
    }
  } finally {
    cleanup();
    clearTimeout(watchdog);
  }
  const fr = floorRows(state);
  const rows = [...Object.values(results).flatMap((r) => r.rows), ...fr];
  const errors = Object.entries(results).flatMap(([section, r]) => r.errors.map((e) => ({ section, ...e })));
  if (fr.length) {
    console.log('');
    printTables(fr);
  }
  const md = markdownTable(rows);
  const workloadsMd = state.workloads ? workloadMarkdown(state.workloads) : '';
  console.log('');
  console.log(`Markdown, every row (${m.cpu}, ${m.cores} cores, node ${m.node}):`);
  console.log('');
  console.log(md);
  if (workloadsMd) console.log(`\n${workloadsMd}`);
  console.log('');
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const base = path.join(root, 'bench', 'results', `${today()}${suffix(args)}`);
  const v = versions();
  writeJson(`${base}.json`, {
    bench: 'axis-kv npm run bench',
    command,
    date: today(),
    startedAt: startedAt.toISOString(),
    durationSeconds: Math.round(secondsSince(t0) * 10) / 10,
    mode: cfg.mode,
    sections: args.sections,
    only: args.figure ?? args.workload ?? null,
    machine: m,
    loadAverage: os.loadavg(),
    versions: v,
    figures: rows,
    errors,
    markdown: md,
    workloadsMarkdown: workloadsMd,
    ...Object.fromEntries(Object.entries(results).map(([k, r]) => [k, r.data])),
  });
  fs.writeFileSync(`${base}.html`, renderHtml({
    title: reportTitle(today(), cfg.mode),
    date: startedAt.toISOString(),
    machine: m,
    versions: v,
    command,
    rows,
    workloads: state.workloads,
    floor: state.floor,
    history: state.history,
    errors,
  }));
  console.log(`wrote ${path.relative(process.cwd(), `${base}.json`)} and ${path.relative(process.cwd(), `${base}.html`)} (${secondsSince(t0).toFixed(1)}s in all)`);
  if (errors.length > 0) console.error(`${errors.length} figure(s) failed: ${errors.map((e) => `${e.section}/${e.figure}`).join(', ')}`);
  return errors.length > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  },
);
