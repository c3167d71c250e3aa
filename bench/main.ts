/**
 * `npm run bench`: two sections, both run by default.
 *
 * - embedded: Axis embedded vs raw lmdb-js, same machine, same workload (8-byte keys, 256-byte
 *   values, durable writes). Figures 1 get, 2 get-old, 3 batch-write, 4 single-write, 5 range, 6 open.
 * - cluster: a real 3-member cluster (three `axis serve` processes on 127.0.0.1, durable writes,
 *   default ticks) and a client in this process. Figures 7 put-latency, 8 put-throughput,
 *   9 get-linearizable, 10 get-serializable (bench/cluster.ts).
 *
 *   node dist/bench/main.js [--quick] [--only <section|figure>] [--profile]
 *
 * Prints each section's table (and its Markdown) and writes bench/results/<YYYY-MM-DD>-embedded.json
 * and …-cluster.json (a --quick, --only <figure> or --profile run writes …-<section>-quick.json /
 * …-<section>-only-<figure>.json / …-cluster-profile.json instead).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CLUSTER_FIGURES, CLUSTER_FIRST_NUMBER, ClusterBench, TARGETS, type ClusterFigure, describeProfile, killClusterChildren,
  profileDirectory, summarizeProfiles, type ProfileSummary,
} from './cluster.js';
import { Embedded, FIGURES, sinkValue, type FigureName } from './embedded.js';
import { machine, markdownTable, methods, terminalTable, today, writeJson, type Machine, type Row } from './report.js';
import { FULL, KEY_BYTES, QUICK, Scratch, VALUE_BYTES, benchmarkVersion, secondsSince, now, type Config } from './util.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const SECTIONS = ['embedded', 'cluster'] as const;
type Section = (typeof SECTIONS)[number];

interface Args {
  quick: boolean;
  /** Sections to run (both by default). */
  sections: Section[];
  /** One figure only (its section's). */
  figure?: FigureName | ClusterFigure;
  profile: boolean;
  /** Count the cluster members' syscalls with perf (when it works). */
  perf: boolean;
}

const ALL_FIGURES: readonly (FigureName | ClusterFigure)[] = [...FIGURES, ...CLUSTER_FIGURES];

function usage(): string {
  return [
    'usage: node dist/bench/main.js [--quick] [--only <section|figure>] [--profile] [--no-perf]',
    '  --quick          small counts, a smoke run',
    `  --only <x>       run one section (${SECTIONS.join(', ')}) or one figure: ` + ALL_FIGURES.map((f, i) => `${i + 1}|${f}`).join(', '),
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
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') {
      quick = true;
    } else if (a === '--profile') {
      profile = true;
    } else if (a === '--no-perf') {
      perf = false;
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
  if (only !== undefined) {
    if ((SECTIONS as readonly string[]).includes(only)) {
      sections = [only as Section];
    } else {
      const byNumber = /^\d{1,2}$/.test(only) ? ALL_FIGURES[Number(only) - 1] : undefined;
      figure = byNumber ?? ALL_FIGURES.find((f) => f === only);
      if (!figure) throw new Error(`--only needs one of ${SECTIONS.join(', ')}, ${ALL_FIGURES.join(', ')} (or 1-${ALL_FIGURES.length}), got ${only}\n${usage()}`);
      sections = [(CLUSTER_FIGURES as readonly string[]).includes(figure) ? 'cluster' : 'embedded'];
    }
  }
  if (profile && !sections.includes('cluster')) throw new Error(`--profile is for the cluster section\n${usage()}`);
  if (profile) sections = ['cluster'];
  return { quick, sections, figure, profile, perf };
}

function packageVersion(dir: string): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** The commit measured, and the files outside bench/ that differed from it (others edit the tree while benches run). */
function gitState(): { head: string; dirty: string[] } {
  try {
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8', timeout: 10_000 }).trim();
    const dirty = execFileSync('git', ['status', '--short'], { cwd: root, encoding: 'utf8', timeout: 10_000 })
      .split('\n').filter((l) => l.trim() && !/^.. bench\//.test(l)).map((l) => l.trim());
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
): Promise<{ rows: Row[]; errors: { figure: string; error: string }[] }> {
  const rows: Row[] = [];
  const errors: { figure: string; error: string }[] = [];
  for (const f of figures) {
    const tf = now();
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
  }
  return { rows, errors };
}

function printTables(rows: Row[], m: Machine): string {
  const md = markdownTable(rows);
  console.log('');
  console.log(terminalTable(rows));
  console.log('');
  console.log('how each row was measured:');
  console.log(methods(rows));
  console.log('');
  console.log(`Markdown (${m.cpu}, ${m.cores} cores, node ${m.node}):`);
  console.log('');
  console.log(md);
  console.log('');
  return md;
}

function suffix(args: Args, section: Section): string {
  const parts = [args.quick ? 'quick' : '', args.figure ? `only-${args.figure}` : '', args.profile && section === 'cluster' ? 'profile' : '', !args.perf && section === 'cluster' ? 'no-perf' : ''];
  const s = parts.filter(Boolean).join('-');
  return s ? `-${s}` : '';
}

async function embeddedSection(args: Args, cfg: Config, scratch: Scratch, m: Machine): Promise<number> {
  const figures: readonly FigureName[] = args.figure ? [args.figure as FigureName] : FIGURES;
  const startedAt = new Date();
  const t0 = now();
  console.log(`axis-kv embedded bench (${cfg.mode}${args.figure ? `, only ${args.figure}` : ''})`);
  console.log(`workload: ${KEY_BYTES}-byte keys, ${VALUE_BYTES}-byte values; Axis durability 'sync'; lmdb-js default options; data under ${scratch.root}`);
  const bench = new Embedded(cfg, scratch, (line) => console.log(line));
  let res: Awaited<ReturnType<typeof runFigures>>;
  try {
    res = await runFigures(figures, (f) => FIGURES.indexOf(f) + 1, (f) => bench.run(f));
  } finally {
    await bench.close().catch((err: unknown) => console.error(`embedded close: ${String(err)}`));
  }
  const { rows, errors } = res;
  const duration = secondsSince(t0);
  const md = printTables(rows, m);
  const file = path.join(root, 'bench', 'results', `${today()}-embedded${suffix(args, 'embedded')}.json`);
  writeJson(file, {
    bench: 'axis-kv embedded vs lmdb-js',
    date: today(),
    startedAt: startedAt.toISOString(),
    durationSeconds: Math.round(duration * 10) / 10,
    mode: cfg.mode,
    only: args.figure ?? null,
    machine: m,
    versions: versions(),
    workload: {
      keyBytes: KEY_BYTES,
      valueBytes: VALUE_BYTES,
      axis: { durability: 'sync' },
      lmdb: 'default options (msgpack values, ordered-binary keys, overlappingSync on Linux)',
      config: { ...cfg, cluster: undefined },
    },
    figures: rows,
    errors,
    markdown: md,
    sink: sinkValue(),
  });
  console.log(`wrote ${path.relative(process.cwd(), file) || file} (${duration.toFixed(1)}s in all)`);
  if (errors.length > 0) console.error(`${errors.length} embedded figure(s) failed: ${errors.map((e) => e.figure).join(', ')}`);
  return errors.length;
}

async function clusterSection(args: Args, cfg: Config, scratch: Scratch, m: Machine): Promise<number> {
  const figures: readonly ClusterFigure[] = args.figure ? [args.figure as ClusterFigure] : CLUSTER_FIGURES;
  const startedAt = new Date();
  const t0 = now();
  const profileDir = args.profile ? profileDirectory() : undefined;
  console.log(`axis-kv cluster bench (${cfg.mode}${args.figure ? `, only ${args.figure}` : ''}${args.profile ? ', PROFILING: members run with --cpu-prof' : ''})`);
  console.log(`workload: 3 members (axis serve) on 127.0.0.1, durability 'sync', default ticks; one client in this process; ${KEY_BYTES}-byte keys, ${VALUE_BYTES}-byte values; data under ${scratch.root}`);
  const bench = new ClusterBench(cfg.cluster, scratch, (line) => console.log(line), { profileDir, perf: args.perf });
  let res: Awaited<ReturnType<typeof runFigures>> = { rows: [], errors: [] };
  try {
    await bench.start();
    res = await runFigures(figures, (f) => CLUSTER_FIGURES.indexOf(f) + CLUSTER_FIRST_NUMBER, (f) => bench.run(f));
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
  const duration = secondsSince(t0);
  const md = printTables(rows, m);
  const file = path.join(root, 'bench', 'results', `${today()}-cluster${suffix(args, 'cluster')}.json`);
  writeJson(file, {
    bench: 'axis-kv 3-member cluster, client in the bench process',
    date: today(),
    startedAt: startedAt.toISOString(),
    durationSeconds: Math.round(duration * 10) / 10,
    mode: cfg.mode,
    only: args.figure ?? null,
    profiling: args.profile,
    machine: m,
    versions: versions(),
    workload: {
      keyBytes: KEY_BYTES,
      valueBytes: VALUE_BYTES,
      cluster: '3 members, one process each, 127.0.0.1, durability sync, tick 100 ms, election 10 ticks (defaults)',
      client: 'connect({endpoints: all 3}) in the bench process; writes go to the leader it learns, reads round-robin over members',
      config: cfg.cluster,
      targets: TARGETS,
    },
    cluster: bench.info(),
    figures: rows,
    errors,
    markdown: md,
    profiles: profiles.length ? { dir: profileDir, summaries: profiles } : null,
  });
  console.log(`wrote ${path.relative(process.cwd(), file) || file} (${duration.toFixed(1)}s in all)`);
  if (errors.length > 0) console.error(`${errors.length} cluster figure(s) failed: ${errors.map((e) => e.figure).join(', ')}`);
  return errors.length;
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const cfg = args.quick ? QUICK : FULL;
  const scratch = new Scratch();
  const cleanup = (): void => {
    killClusterChildren();
    try {
      scratch.removeAll();
    } catch {
      // best effort: the process is leaving
    }
  };
  // Bound the whole run: a hung figure must not hang the bench.
  const budget = (args.sections.includes('embedded') ? cfg.watchdogSec : 0) + (args.sections.includes('cluster') ? cfg.cluster.watchdogSec : 0);
  const watchdog = setTimeout(() => {
    console.error(`\nbench: abandoned after ${budget}s (watchdog); cluster members killed, scratch data removed`);
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
  console.log(`machine: ${m.cpu}, ${m.cores} cores, ${m.totalMemoryGB} GiB, node ${m.node}, ${m.platform} ${m.release}`);
  let failures = 0;
  try {
    for (const s of args.sections) {
      console.log('');
      failures += s === 'embedded' ? await embeddedSection(args, cfg, scratch, m) : await clusterSection(args, cfg, scratch, m);
    }
  } finally {
    cleanup();
    clearTimeout(watchdog);
  }
  return failures > 0 ? 1 : 0;
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
