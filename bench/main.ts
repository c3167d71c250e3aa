/**
 * `npm run bench`: Axis embedded vs raw lmdb-js, same machine, same workload
 * (8-byte keys, 256-byte values, durable writes).
 *
 *   node dist/bench/main.js [--quick] [--only <figure>]
 *
 * Figures: 1 get, 2 get-old, 3 batch-write, 4 single-write, 5 range, 6 open.
 * Prints a table (and its Markdown) and writes bench/results/<YYYY-MM-DD>-embedded.json
 * (a --quick or --only run writes …-embedded-quick.json / …-embedded-only-<figure>.json instead).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Embedded, FIGURES, sinkValue, type FigureName } from './embedded.js';
import { machine, markdownTable, methods, terminalTable, today, writeJson, type Row } from './report.js';
import { FULL, KEY_BYTES, QUICK, Scratch, VALUE_BYTES, benchmarkVersion, secondsSince, now } from './util.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function usage(): string {
  return [
    'usage: node dist/bench/main.js [--quick] [--only <figure>]',
    '  --quick          small counts, a smoke run of a few seconds',
    '  --only <figure>  run one figure: ' + FIGURES.map((f, i) => `${i + 1}|${f}`).join(', '),
  ].join('\n');
}

function parseArgs(argv: string[]): { quick: boolean; only?: FigureName } {
  let quick = false;
  let only: FigureName | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') {
      quick = true;
    } else if (a === '--only' || a.startsWith('--only=')) {
      const v = a === '--only' ? argv[++i] : a.slice('--only='.length);
      const byNumber = v !== undefined && /^[1-6]$/.test(v) ? FIGURES[Number(v) - 1] : undefined;
      const name = byNumber ?? FIGURES.find((f) => f === v);
      if (!name) throw new Error(`--only needs one of ${FIGURES.join(', ')} (or 1-6), got ${String(v)}\n${usage()}`);
      only = name;
    } else if (a === '--help' || a === '-h') {
      console.log(usage());
      process.exit(0);
    } else {
      throw new Error(`unknown argument ${a}\n${usage()}`);
    }
  }
  return { quick, only };
}

function packageVersion(dir: string): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const cfg = args.quick ? QUICK : FULL;
  const figures: readonly FigureName[] = args.only ? [args.only] : FIGURES;
  const startedAt = new Date();
  const t0 = now();
  const scratch = new Scratch();
  const cleanup = (): void => {
    try {
      scratch.removeAll();
    } catch {
      // best effort: the process is leaving
    }
  };
  // Bound the whole run: a hung figure must not hang the bench.
  const watchdog = setTimeout(() => {
    console.error(`\nbench: abandoned after ${cfg.watchdogSec}s (watchdog); scratch data removed`);
    cleanup();
    process.exit(3);
  }, cfg.watchdogSec * 1000);
  watchdog.unref();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      cleanup();
      process.exit(130);
    });
  }

  const m = machine();
  console.log(`axis-kv embedded bench (${cfg.mode}${args.only ? `, only ${args.only}` : ''})`);
  console.log(`machine: ${m.cpu}, ${m.cores} cores, ${m.totalMemoryGB} GiB, node ${m.node}, ${m.platform} ${m.release}`);
  console.log(`workload: ${KEY_BYTES}-byte keys, ${VALUE_BYTES}-byte values; Axis durability 'sync'; lmdb-js default options; data under ${scratch.root}`);

  const bench = new Embedded(cfg, scratch, (line) => console.log(line));
  const rows: Row[] = [];
  const errors: { figure: string; error: string }[] = [];
  try {
    for (const f of figures) {
      const tf = now();
      console.log(`» ${FIGURES.indexOf(f) + 1}. ${f}`);
      try {
        const r = await bench.run(f);
        rows.push(...r);
        for (const x of r) {
          const ratio = x.ratio === undefined ? '' : `  ratio ${x.ratio.toFixed(2)}`;
          console.log(`  ${x.id}: Axis ${x.axis.toFixed(x.axis < 100 ? 3 : 0)} ${x.unit}` +
            (x.baseline === undefined ? '' : `, baseline ${x.baseline.toFixed(x.baseline < 100 ? 3 : 0)} ${x.unit}`) + ratio);
        }
      } catch (err) {
        const msg = err instanceof Error ? (err.stack ?? err.message) : String(err);
        errors.push({ figure: f, error: msg });
        console.error(`  FAILED: ${msg}`);
      }
      console.log(`  (${secondsSince(tf).toFixed(1)}s)`);
    }
  } finally {
    await bench.close().catch((err: unknown) => errors.push({ figure: 'close', error: String(err) }));
    cleanup();
    clearTimeout(watchdog);
  }

  const duration = secondsSince(t0);
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

  const suffix = args.quick || args.only ? `-${[args.quick ? 'quick' : '', args.only ? `only-${args.only}` : ''].filter(Boolean).join('-')}` : '';
  const file = path.join(root, 'bench', 'results', `${today()}-embedded${suffix}.json`);
  writeJson(file, {
    bench: 'axis-kv embedded vs lmdb-js',
    date: today(),
    startedAt: startedAt.toISOString(),
    durationSeconds: Math.round(duration * 10) / 10,
    mode: cfg.mode,
    only: args.only ?? null,
    machine: m,
    versions: {
      axis: packageVersion(root),
      lmdb: packageVersion(path.join(root, 'node_modules', 'lmdb')),
      benchmark: benchmarkVersion,
      node: process.version,
    },
    workload: {
      keyBytes: KEY_BYTES,
      valueBytes: VALUE_BYTES,
      axis: { durability: 'sync' },
      lmdb: 'default options (msgpack values, ordered-binary keys, overlappingSync on Linux)',
      config: cfg,
    },
    figures: rows,
    errors,
    markdown: md,
    sink: sinkValue(),
  });
  console.log(`wrote ${path.relative(process.cwd(), file) || file} (${duration.toFixed(1)}s in all)`);
  if (errors.length > 0) {
    console.error(`${errors.length} figure(s) failed: ${errors.map((e) => e.figure).join(', ')}`);
    return 1;
  }
  return 0;
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
