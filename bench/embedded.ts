/**
 * The embedded figures: Axis's `Store` against raw lmdb-js on the same workload
 * (8-byte keys, 256-byte values, durable writes), each figure returning its table rows.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { open as openLmdb, type RootDatabase } from 'lmdb';
import { open as openAxis, type PutResult, type Store } from '../ts/index.js';
import { row, type Row } from './report.js';
import {
  KEY_BYTES, VALUE_BYTES, keys, median, now, randomIndices, rng, runSync, secondsSince, value,
  type Config, type Scratch, type SyncResult,
} from './util.js';

type Lmdb = RootDatabase<unknown, Buffer>;

export const FIGURES = ['get', 'get-old', 'batch-write', 'single-write', 'range', 'open'] as const;
export type FigureName = (typeof FIGURES)[number];

const MB = 1024 * 1024;
const SAMPLE_COUNT = 1 << 16;

/** Anything a benchmark loop must not let the JIT throw away goes here. */
let sink = 0;

export class Embedded {
  private readonly val = value(1);
  private loaded?: { axis: Store; db: Lmdb; keys: Buffer[]; axisDir: string; lmdbDir: string; seconds: number };
  private readonly childScript = path.join(path.dirname(fileURLToPath(import.meta.url)), 'open-child.js');

  constructor(
    private readonly cfg: Config,
    private readonly scratch: Scratch,
    private readonly log: (line: string) => void,
  ) {}

  async run(name: FigureName): Promise<Row[]> {
    // Write figures start with no dirty pages left from earlier figures (a system-wide `sync`, bounded).
    if (name === 'batch-write' || name === 'single-write') settleDisk();
    switch (name) {
      case 'get': return this.pointGet();
      case 'get-old': return this.oldGet();
      case 'batch-write': return this.batchedWrites();
      case 'single-write': return this.singleWrites();
      case 'range': return this.rangeScan();
      case 'open': return this.openTime();
    }
  }

  /** Closes whatever is still open (the preloaded pair). */
  async close(): Promise<void> {
    const l = this.loaded;
    this.loaded = undefined;
    if (!l) return;
    await l.axis.close();
    await l.db.close();
    this.scratch.remove(l.axisDir);
    this.scratch.remove(l.lmdbDir);
  }

  // ---- helpers -------------------------------------------------------------------------------

  private openLmdb(dir: string): Lmdb {
    // lmdb-js's default options (msgpack values, ordered-binary keys, durable commits with overlappingSync on Linux).
    return openLmdb<unknown, Buffer>({ path: path.join(dir, 'data.mdb') });
  }

  /** Repeats a pair of benchmark.js measurements, alternating, and keeps each side's median run. */
  private pair(name: string, a: () => void, b: () => void, maxTime: number): { axis: SyncResult; lmdb: SyncResult; runs: { axis: number[]; lmdb: number[] } } {
    const reps = this.cfg.mode === 'full' ? 3 : 1;
    const as: SyncResult[] = [];
    const bs: SyncResult[] = [];
    for (let r = 0; r < reps; r++) {
      as.push(runSync(`${name} axis`, a, maxTime, this.cfg.minSamples));
      bs.push(runSync(`${name} lmdb-js`, b, maxTime, this.cfg.minSamples));
    }
    const pick = (xs: SyncResult[]): SyncResult => {
      const m = median(xs.map((x) => x.hz));
      return xs.reduce((best, x) => (Math.abs(x.hz - m) < Math.abs(best.hz - m) ? x : best));
    };
    return { axis: pick(as), lmdb: pick(bs), runs: { axis: as.map((x) => x.hz), lmdb: bs.map((x) => x.hz) } };
  }

  private syncMethod(s: { axis: SyncResult; lmdb: SyncResult; runs: { axis: number[] } }, maxTime: number): string {
    return (
      `benchmark.js, median of ${s.runs.axis.length} alternating run(s) of ≤${maxTime}s; ` +
      `Axis ±${s.axis.rme.toFixed(1)}% (${s.axis.samples} samples), lmdb-js ±${s.lmdb.rme.toFixed(1)}% (${s.lmdb.samples} samples)`
    );
  }

  /** Axis puts in batches (all issued in one turn, then awaited), stopping past the time budget. */
  private async axisBatched(store: Store, ks: Buffer[], batch: number, budgetSec: number): Promise<{ ops: number; seconds: number }> {
    const t0 = now();
    let done = 0;
    for (let b = 0; b < ks.length; b += batch) {
      const n = Math.min(batch, ks.length - b);
      const ps = new Array<Promise<unknown>>(n);
      for (let i = 0; i < n; i++) ps[i] = store.put(ks[b + i]!, this.val);
      await Promise.all(ps);
      done += n;
      if (secondsSince(t0) > budgetSec) break;
    }
    return { ops: done, seconds: secondsSince(t0) };
  }

  private async lmdbBatched(db: Lmdb, ks: Buffer[], batch: number, budgetSec: number, flushed: boolean): Promise<{ ops: number; seconds: number }> {
    const t0 = now();
    let done = 0;
    for (let b = 0; b < ks.length; b += batch) {
      const n = Math.min(batch, ks.length - b);
      const ps = new Array<Promise<unknown>>(n);
      for (let i = 0; i < n; i++) ps[i] = db.put(ks[b + i]!, this.val);
      await Promise.all(ps);
      if (flushed) await db.flushed;
      done += n;
      if (secondsSince(t0) > budgetSec) break;
    }
    return { ops: done, seconds: secondsSince(t0) };
  }

  /**
   * Writes `versions` versions of every key, version-major (each key's versions are interleaved with the
   * others', as in a store that lives a while), in batches. Put n gets revision base + 1 + n.
   * The base revision comes from the first put's result, not from a read: see `readFirst`.
   * `readFirst`: do one get before writing (figure 6d: the store's read view then pins an old snapshot).
   */
  private async buildHistory(store: Store, ks: Buffer[], versions: number, readFirst = false): Promise<{ seconds: number; puts: number; versions: number; base: number }> {
    if (readFirst) sink += store.get(ks[0]!)?.version ?? 0;
    const total = ks.length * versions;
    const batch = this.cfg.buildBatch;
    const t0 = now();
    let puts = 0;
    let base = -1;
    while (puts < total) {
      const n = Math.min(batch, total - puts);
      const ps = new Array<Promise<PutResult>>(n);
      for (let i = 0; i < n; i++) ps[i] = store.put(ks[(puts + i) % ks.length]!, this.val);
      const results = await Promise.all(ps);
      if (base < 0) base = results[0]!.revision - 1;
      puts += n;
      if (secondsSince(t0) > this.cfg.buildBudgetSec) {
        this.log(`  build stopped at the ${this.cfg.buildBudgetSec}s budget after ${puts} puts`);
        break;
      }
    }
    const seconds = secondsSince(t0);
    const revision = store.status().revision;
    if (revision !== base + puts) throw new Error(`history build: revision ${revision}, expected ${base + puts}`);
    return { seconds, puts, versions: Math.floor(puts / ks.length), base };
  }

  /** The store of figures 1 and 5: `keys` keys, one version each, in Axis and in lmdb-js. */
  private async preloaded(): Promise<NonNullable<Embedded['loaded']>> {
    if (this.loaded) return this.loaded;
    const n = this.cfg.keys;
    const ks = keys('k', n);
    const axisDir = this.scratch.dir('axis-main');
    const lmdbDir = this.scratch.dir('lmdb-main');
    const t0 = now();
    const axis = await openAxis(axisDir);
    const db = this.openLmdb(lmdbDir);
    await this.axisBatched(axis, ks, 1000, Infinity);
    await this.lmdbBatched(db, ks, 1000, Infinity, true);
    const seconds = secondsSince(t0);
    // Both hold what the figures expect.
    for (const i of [0, n >> 1, n - 1]) {
      const kv = axis.get(ks[i]!);
      if (!kv || !kv.value.equals(this.val) || !kv.key.equals(ks[i]!)) throw new Error(`axis preload: key ${i} reads back wrong`);
      const b = db.getBinary(ks[i]!);
      if (!b || b.length < VALUE_BYTES) throw new Error(`lmdb-js preload: key ${i} reads back wrong`);
    }
    this.log(`  preloaded ${n} keys into each store in ${seconds.toFixed(1)}s`);
    this.loaded = { axis, db, keys: ks, axisDir, lmdbDir, seconds };
    return this.loaded;
  }

  // ---- figures -------------------------------------------------------------------------------

  /** 1. Latest point get on random keys of the preloaded set. */
  private async pointGet(): Promise<Row[]> {
    const { axis, db, keys: ks } = await this.preloaded();
    const idx = randomIndices(ks.length, SAMPLE_COUNT, 11);
    const mask = SAMPLE_COUNT - 1;
    let i = 0;
    let j = 0;
    const s = this.pair(
      'get',
      () => {
        sink += axis.get(ks[idx[i++ & mask]!]!)!.value.length;
      },
      () => {
        sink += db.getBinary(ks[idx[j++ & mask]!]!)!.length;
      },
      this.cfg.getMaxTime,
    );
    return [
      row({
        id: '1', figure: 'get', unit: 'ops/s',
        title: `latest point get, random of ${ks.length.toLocaleString('en-US')} keys: get(k) vs getBinary(k)`,
        axis: s.axis.hz, baseline: s.lmdb.hz, baselineLabel: 'lmdb-js db.getBinary(key)',
        target: { cmp: '>=', value: 1.0 },
        method: this.syncMethod(s, this.cfg.getMaxTime),
        data: { axis: s.axis, lmdb: s.lmdb, runs: s.runs, keys: ks.length },
      }),
    ];
  }

  /**
   * 2. Get at an old revision of keys with many versions, vs lmdb-js's latest get on the store of
   * figure 1. Row 2 holds as many entries as that store (keys × versions = its key count); row 2c
   * repeats the lookups in a store ten times larger, to show what the extra data costs.
   */
  private async oldGet(): Promise<Row[]> {
    const rows = await this.oldGetIn(this.cfg.histKeys, '2', '2b');
    rows.push(...(await this.oldGetIn(this.cfg.histKeysLarge, '2c', null)));
    return rows;
  }

  private async oldGetIn(K: number, id: string, latestId: string | null): Promise<Row[]> {
    const ks = keys('h', K);
    const axisDir = this.scratch.dir(`axis-history-${K}`);
    const axis = await openAxis(axisDir);
    const { db, keys: baseKeys } = await this.preloaded();
    try {
      const b = await this.buildHistory(axis, ks, this.cfg.histVersions);
      if (b.versions < 2) throw new Error('history build too short to read old versions');
      this.log(`  built ${K} keys × ${b.versions} versions (${b.puts} revisions) in ${b.seconds.toFixed(1)}s`);

      // Samples: a random key, one of its old versions v (not the latest), and a revision at which v was current.
      const r = rng(22);
      const sk = new Uint32Array(SAMPLE_COUNT);
      const opts = new Array<{ revision: number }>(SAMPLE_COUNT);
      for (let n = 0; n < SAMPLE_COUNT; n++) {
        const k = Math.floor(r() * K);
        const v = 1 + Math.floor(r() * (b.versions - 1));
        const revV = b.base + 1 + (v - 1) * K + k;
        sk[n] = k;
        opts[n] = { revision: revV + Math.floor(r() * K) };
        if (n < 4096) {
          const kv = axis.get(ks[k]!, opts[n]);
          if (!kv || kv.version !== v || kv.modRevision !== revV || !kv.key.equals(ks[k]!)) {
            throw new Error(`old get: key ${k} at revision ${opts[n]!.revision} read version ${kv?.version}, expected ${v}`);
          }
        }
      }
      const idx = randomIndices(K, SAMPLE_COUNT, 23);
      const baseIdx = randomIndices(baseKeys.length, SAMPLE_COUNT, 24);
      const mask = SAMPLE_COUNT - 1;
      let i = 0;
      let j = 0;
      const s = this.pair(
        'get-old',
        () => {
          const n = i++ & mask;
          sink += axis.get(ks[sk[n]!]!, opts[n])!.value.length;
        },
        () => {
          sink += db.getBinary(baseKeys[baseIdx[j++ & mask]!]!)!.length;
        },
        this.cfg.getMaxTime,
      );
      const status = axis.status();
      const main = row({
        id, figure: 'get-old', unit: 'ops/s',
        title: `get at old revision, ${K.toLocaleString('en-US')} keys × ${b.versions} versions, vs lmdb-js latest getBinary`,
        axis: s.axis.hz, baseline: s.lmdb.hz, baselineLabel: `lmdb-js db.getBinary(key), latest, ${baseKeys.length} keys (figure 1's store)`,
        target: id === '2' ? { cmp: '>=', value: 0.8 } : undefined,
        method: this.syncMethod(s, this.cfg.getMaxTime) +
          `; store built with batches of ${this.cfg.buildBatch} in ${b.seconds.toFixed(1)}s, data file ${(status.dbSize / MB).toFixed(0)} MB`,
        data: { axis: s.axis, lmdb: s.lmdb, runs: s.runs, keys: K, versions: b.versions, buildSeconds: b.seconds, dbSize: status.dbSize, dbSizeInUse: status.dbSizeInUse },
      });
      if (latestId === null) return [main];
      // Diagnostic: the latest version of the same keys in the same store (no revision lookup).
      const reps = this.cfg.mode === 'full' ? 3 : 1;
      const latest: SyncResult[] = [];
      let l = 0;
      for (let rep = 0; rep < reps; rep++) {
        latest.push(runSync('get-old latest', () => {
          sink += axis.get(ks[idx[l++ & mask]!]!)!.value.length;
        }, this.cfg.getMaxTime, this.cfg.minSamples));
      }
      const latestHz = median(latest.map((x) => x.hz));
      return [
        main,
        row({
          id: latestId, figure: 'get-old', unit: 'ops/s',
          title: `  diagnostic: Axis latest get(k) on the same ${b.versions}-version store`,
          axis: latestHz, baseline: s.lmdb.hz, baselineLabel: 'lmdb-js db.getBinary(key), latest, as in 2',
          method: `benchmark.js, median of ${reps} run(s) of ≤${this.cfg.getMaxTime}s (${latest.map((x) => `±${x.rme.toFixed(1)}%`).join(', ')}); ` +
            `separates the cost of the larger tree (all versions inline) from the revision lookup; lmdb-js number from row ${id}`,
          data: { runs: latest },
        }),
      ];
    } finally {
      await axis.close();
      this.scratch.remove(axisDir);
    }
  }

  /** 3. Batched writes: a batch of put promises issued in one turn, then awaited; fresh stores each round. */
  private async batchedWrites(): Promise<Row[]> {
    const { batchTotal: total, batchSize: batch, batchRounds: rounds, roundBudgetSec: budget } = this.cfg;
    const ks = keys('b', total);
    const rates: Record<'axis' | 'lmdb' | 'lmdbFlushed', number[]> = { axis: [], lmdb: [], lmdbFlushed: [] };
    const partial: string[] = [];
    const engines = ['axis', 'lmdb', 'lmdbFlushed'] as const;
    for (let round = 0; round < rounds; round++) {
      for (let e = 0; e < engines.length; e++) {
        const engine = engines[(e + round) % engines.length]!;
        const dir = this.scratch.dir(`batch-${engine}`);
        let res: { ops: number; seconds: number };
        if (engine === 'axis') {
          const store = await openAxis(dir);
          try {
            res = await this.axisBatched(store, ks, batch, budget);
          } finally {
            await store.close();
          }
        } else {
          const db = this.openLmdb(dir);
          try {
            res = await this.lmdbBatched(db, ks, batch, budget, engine === 'lmdbFlushed');
          } finally {
            await db.close();
          }
        }
        if (res.ops < total) partial.push(`${engine} round ${round + 1}: ${res.ops}/${total} puts within ${budget}s`);
        rates[engine].push(res.ops / res.seconds);
        this.scratch.remove(dir);
      }
    }
    const a = median(rates.axis);
    const l = median(rates.lmdb);
    const lf = median(rates.lmdbFlushed);
    const how = `median of ${rounds} rounds; each round ${total.toLocaleString('en-US')} puts into a fresh store, batches of ${batch} issued in one turn then awaited` +
      (partial.length ? `; PARTIAL: ${partial.join(', ')}` : '');
    return [
      row({
        id: '3', figure: 'batch-write', unit: 'ops/s',
        title: `batched durable puts (batches of ${batch}): put() vs db.put()`,
        axis: a, baseline: l, baselineLabel: 'lmdb-js db.put(), default options (promise = committed)',
        target: { cmp: '>=', value: 0.5 },
        method: how,
        data: { rates, total, batch, rounds, partial },
      }),
      row({
        id: '3b', figure: 'batch-write', unit: 'ops/s',
        title: `  same, lmdb-js also awaiting db.flushed after each batch`,
        axis: a, baseline: lf, baselineLabel: 'lmdb-js db.put() + await db.flushed per batch',
        method: `${how}; lmdb-js's default overlappingSync resolves put() on commit, before the fsync; this row waits for the flush as Axis 'sync' does`,
        data: { rates, total, batch, rounds },
      }),
    ];
  }

  /** 4. Durable single writes, one at a time. */
  private async singleWrites(): Promise<Row[]> {
    const { singleWrites: n, singleRounds: rounds, roundBudgetSec: budget } = this.cfg;
    const axisDir = this.scratch.dir('axis-single');
    const lmdbDir = this.scratch.dir('lmdb-single');
    const axis = await openAxis(axisDir);
    const db = this.openLmdb(lmdbDir);
    const rates = { axis: [] as number[], lmdb: [] as number[] };
    const partial: string[] = [];
    try {
      const warm = keys('w', 50);
      for (const k of warm) await axis.put(k, this.val);
      for (const k of warm) db.putSync(k, this.val);
      for (let round = 0; round < rounds; round++) {
        const ks = keys('s', n, round * n);
        const order = round % 2 === 0 ? (['axis', 'lmdb'] as const) : (['lmdb', 'axis'] as const);
        for (const engine of order) {
          const t0 = now();
          let done = 0;
          if (engine === 'axis') {
            for (; done < n; done++) {
              await axis.put(ks[done]!, this.val);
              if ((done & 63) === 63 && secondsSince(t0) > budget) break;
            }
          } else {
            for (; done < n; done++) {
              db.putSync(ks[done]!, this.val);
              if ((done & 63) === 63 && secondsSince(t0) > budget) break;
            }
          }
          const seconds = secondsSince(t0);
          if (done < n) partial.push(`${engine} round ${round + 1}: ${done}/${n} within ${budget}s`);
          rates[engine].push(done / seconds);
        }
      }
    } finally {
      await axis.close();
      await db.close();
      this.scratch.remove(axisDir);
      this.scratch.remove(lmdbDir);
    }
    const a = median(rates.axis);
    const l = median(rates.lmdb);
    const how = `median of ${rounds} alternating rounds of ${n.toLocaleString('en-US')} sequential writes (new keys)` +
      (partial.length ? `; PARTIAL: ${partial.join(', ')}` : '');
    return [
      row({
        id: '4', figure: 'single-write', unit: 'ops/s',
        title: 'single durable writes one by one: await put() vs db.putSync()',
        axis: a, baseline: l, baselineLabel: 'lmdb-js db.putSync(key, value)',
        target: { cmp: '>=', value: 0.9 },
        method: how,
        data: { rates, writes: n, rounds, partial },
      }),
      row({
        id: '4b', figure: 'single-write', unit: 'µs',
        title: '  mean latency of one write',
        axis: 1e6 / a, baseline: 1e6 / l, baselineLabel: 'lmdb-js db.putSync(key, value)',
        method: `${how}; latency = 1 / median rate (lower is better)`,
      }),
    ];
  }

  /** 5. Full range scan of the preloaded keys. */
  private async rangeScan(): Promise<Row[]> {
    const { axis, db, keys: ks } = await this.preloaded();
    const n = ks.length;
    const start = ks[0]!;
    const end = Buffer.from('l'); // just past every 'k…' key
    const prefix = Buffer.from('k');
    // Both see every key.
    const r = axis.range(start, end);
    if (r.kvs.length !== n || r.count !== n || r.more) throw new Error(`axis range: ${r.kvs.length} keys, expected ${n}`);
    if (axis.prefix(prefix).kvs.length !== n) throw new Error('axis prefix: wrong key count');
    let c = 0;
    for (const { value: v } of db.getRange({ start, end })) if ((v as Buffer).length === VALUE_BYTES) c++;
    if (c !== n) throw new Error(`lmdb-js range: ${c} keys, expected ${n}`);

    const maxTime = this.cfg.scanMaxTime;
    const s = this.pair(
      'range',
      () => {
        const kvs = axis.range(start, end).kvs;
        for (let i = 0; i < kvs.length; i++) sink += kvs[i]!.value.length;
      },
      () => {
        for (const { value: v } of db.getRange({ start, end })) sink += (v as Buffer).length;
      },
      maxTime,
    );
    const reps = this.cfg.mode === 'full' ? 3 : 1;
    const ps: SyncResult[] = [];
    for (let i = 0; i < reps; i++) {
      ps.push(
        runSync('prefix axis', () => {
          const kvs = axis.prefix(prefix).kvs;
          for (let i = 0; i < kvs.length; i++) sink += kvs[i]!.value.length;
        }, maxTime, this.cfg.minSamples),
      );
    }
    const p = median(ps.map((x) => x.hz));
    return [
      row({
        id: '5', figure: 'range', unit: 'keys/s',
        title: `full range scan of ${n.toLocaleString('en-US')} keys: range(start, end) vs getRange({start, end})`,
        axis: s.axis.hz * n, baseline: s.lmdb.hz * n, baselineLabel: 'lmdb-js for (const {key, value} of db.getRange({start, end}))',
        target: { cmp: '>=', value: 1.0 },
        method: this.syncMethod(s, maxTime) + `; one op = one whole scan (Axis ${(1000 / s.axis.hz).toFixed(1)} ms, lmdb-js ${(1000 / s.lmdb.hz).toFixed(1)} ms)`,
        data: { axis: s.axis, lmdb: s.lmdb, runs: s.runs, keys: n },
      }),
      row({
        id: '5b', figure: 'range', unit: 'keys/s',
        title: `  same with prefix('k')`,
        axis: p * n, baseline: s.lmdb.hz * n, baselineLabel: 'lmdb-js getRange, as in 5',
        target: { cmp: '>=', value: 1.0 },
        method: `benchmark.js, median of ${reps} run(s) of ≤${maxTime}s (${ps.map((x) => `±${x.rme.toFixed(1)}%`).join(', ')}); lmdb-js number from row 5`,
        data: { runs: ps },
      }),
    ];
  }

  /** One `open()` + first get, in this process. */
  /** One `open()` and, apart, the first get after it (ms each). */
  private async timeOpen(dir: string, k: Buffer): Promise<{ open: number; get: number }> {
    const t0 = now();
    const s = await openAxis(dir);
    const open = secondsSince(t0) * 1000;
    const t1 = now();
    sink += s.get(k)?.value.length ?? 0;
    const get = secondsSince(t1) * 1000;
    await s.close();
    return { open, get };
  }

  /** One `open()` + first get in a fresh process: its time and RSS. */
  private childOpen(dir: string, k: Buffer): { openMs: number; rssBefore: number; rssAfter: number; found: boolean } {
    const out = execFileSync(process.execPath, [this.childScript, dir, k.toString('hex')], { encoding: 'utf8', timeout: 60_000 });
    const last = out.trim().split('\n').pop() ?? '';
    return JSON.parse(last) as { openMs: number; rssBefore: number; rssAfter: number; found: boolean };
  }

  /** 6. Open time (and RSS) of a store with 1M revisions of history vs an empty store. */
  private async openTime(): Promise<Row[]> {
    const K = this.cfg.openKeys;
    const ks = keys('o', K);
    const histDir = this.scratch.dir('axis-1m-history');
    const emptyDir = this.scratch.dir('axis-empty');
    try {
      const store = await openAxis(histDir);
      let b: Awaited<ReturnType<Embedded['buildHistory']>>;
      let dbSize: number;
      try {
        b = await this.buildHistory(store, ks, this.cfg.openVersions);
        dbSize = store.status().dbSize;
      } finally {
        await store.close();
      }
      this.log(`  built ${K} keys × ${b.versions} versions (${b.puts.toLocaleString('en-US')} revisions) in ${b.seconds.toFixed(1)}s, data file ${(dbSize / MB).toFixed(0)} MB`);
      await (await openAxis(emptyDir)).close();

      // 6d: the same build after one read. Were the store's read view to stay pinned on that old
      // snapshot, LMDB could not reuse the pages the build frees and the file would grow instead.
      const pinnedDir = this.scratch.dir('axis-1m-read-first');
      let pinned: { seconds: number; dbSize: number; puts: number };
      try {
        const p = await openAxis(pinnedDir);
        try {
          const pb = await this.buildHistory(p, ks, this.cfg.openVersions, true);
          pinned = { seconds: pb.seconds, dbSize: p.status().dbSize, puts: pb.puts };
        } finally {
          await p.close();
        }
      } finally {
        this.scratch.remove(pinnedDir);
      }
      this.log(`  same build after one get: ${pinned.seconds.toFixed(1)}s, data file ${(pinned.dbSize / MB).toFixed(0)} MB`);

      const probe = ks[K >> 1]!;
      // Warm up both (page cache, code paths), then alternate.
      await this.timeOpen(histDir, probe);
      await this.timeOpen(emptyDir, probe);
      const histRuns: { open: number; get: number }[] = [];
      const emptyRuns: { open: number; get: number }[] = [];
      for (let i = 0; i < this.cfg.reopens; i++) {
        if (i % 2 === 0) {
          histRuns.push(await this.timeOpen(histDir, probe));
          emptyRuns.push(await this.timeOpen(emptyDir, probe));
        } else {
          emptyRuns.push(await this.timeOpen(emptyDir, probe));
          histRuns.push(await this.timeOpen(histDir, probe));
        }
      }
      const hist = histRuns.map((r) => r.open);
      const empty = emptyRuns.map((r) => r.open);
      const cHist: ReturnType<Embedded['childOpen']>[] = [];
      const cEmpty: ReturnType<Embedded['childOpen']>[] = [];
      for (let i = 0; i < this.cfg.rssChildren; i++) {
        cHist.push(this.childOpen(histDir, probe));
        cEmpty.push(this.childOpen(emptyDir, probe));
      }
      if (!cHist.every((c) => c.found) || cEmpty.some((c) => c.found)) throw new Error('open child: unexpected first get');
      const rssH = median(cHist.map((c) => c.rssAfter)) / MB;
      const rssE = median(cEmpty.map((c) => c.rssAfter)) / MB;
      const growH = median(cHist.map((c) => c.rssAfter - c.rssBefore)) / MB;
      const growE = median(cEmpty.map((c) => c.rssAfter - c.rssBefore)) / MB;
      const coldH = median(cHist.map((c) => c.openMs));
      const coldE = median(cEmpty.map((c) => c.openMs));
      const revisions = b.puts.toLocaleString('en-US');
      return [
        row({
          id: '6', figure: 'open', unit: 'ms',
          title: `open(): ${revisions}-revision store vs empty store`,
          axis: median(hist), baseline: median(empty), baselineLabel: 'Axis, empty store',
          target: { cmp: '<=', value: 1.0 },
          method: `median of ${this.cfg.reopens} alternating re-opens in this process after one warm-up each ` +
            `(history: min ${Math.min(...hist).toFixed(3)} max ${Math.max(...hist).toFixed(3)} ms; empty: min ${Math.min(...empty).toFixed(3)} max ${Math.max(...empty).toFixed(3)} ms); ` +
            `in a fresh process: ${coldH.toFixed(2)} vs ${coldE.toFixed(2)} ms`,
          data: { history: histRuns, empty: emptyRuns, coldHistory: cHist, coldEmpty: cEmpty },
        }),
        row({
          id: '6e', figure: 'open', unit: 'ms',
          title: '  first get after open (a miss on the empty store; deeper, colder tree with history)',
          axis: median(histRuns.map((r) => r.get)), baseline: median(emptyRuns.map((r) => r.get)), baselineLabel: 'Axis, empty store',
          method: `median of the same ${this.cfg.reopens} re-opens`,
          data: {},
        }),
        row({
          id: '6b', figure: 'open', unit: 'MB',
          title: '  process RSS right after open + first get (fresh process)',
          axis: rssH, baseline: rssE, baselineLabel: 'Axis, empty store',
          method: `median of ${this.cfg.rssChildren} fresh process(es) each; growth across open + first get: ${growH.toFixed(1)} MB vs ${growE.toFixed(1)} MB`,
          data: { rssHistoryMB: rssH, rssEmptyMB: rssE, growthHistoryMB: growH, growthEmptyMB: growE },
        }),
        row({
          id: '6c', figure: 'open', unit: 's',
          title: `  building the history store (${K} keys × ${b.versions} versions)`,
          axis: b.seconds,
          method: `batched puts, ${this.cfg.buildBatch.toLocaleString('en-US')} per batch (${Math.ceil(b.puts / this.cfg.buildBatch)} durable commits); ` +
            `${Math.round(b.puts / b.seconds).toLocaleString('en-US')} puts/s; data file ${(dbSize / MB).toFixed(0)} MB ` +
            `(${Math.round(dbSize / b.puts)} bytes per revision of a ${KEY_BYTES}+${VALUE_BYTES}-byte pair)`,
          data: { seconds: b.seconds, puts: b.puts, batch: this.cfg.buildBatch, dbSize },
        }),
        row({
          id: '6d', figure: 'open', unit: 'MB',
          title: '  diagnostic: data file after that build if one get() preceded it, vs none',
          axis: pinned.dbSize / MB, baseline: dbSize / MB, baselineLabel: 'Axis, same build without the get',
          method: `same build (${pinned.seconds.toFixed(1)}s) after one get() on the fresh store; ` +
            `the store's read view lets go of old snapshots when commits land, so the read must not make the file grow (it did, ~2x, before that fix)`,
          data: { pinned, unpinnedDbSize: dbSize },
        }),
      ];
    } finally {
      this.scratch.remove(histDir);
      this.scratch.remove(emptyDir);
    }
  }
}

/** Flushes the system's dirty pages so a write figure does not pay for an earlier figure's writeback. */
function settleDisk(): void {
  try {
    execFileSync('sync', [], { timeout: 60_000, stdio: 'ignore' });
  } catch {
    // no `sync` binary, or it took too long: measure anyway
  }
}

export function sinkValue(): number {
  return sink;
}
