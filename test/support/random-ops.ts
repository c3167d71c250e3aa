/**
 * Random differential testing: one seeded sequence of operations drives two stores, and every
 * result (or error code) must be identical on both.
 *
 * The pieces are exported for reuse:
 * - `Rng` / `mulberry32`: the seeded PRNG.
 * - `RandomOpGenerator`: produces `RandomOp`s (a method name, the object it is called on, and
 *   its arguments) and tracks the store's revision / compaction floor / snapshots from the
 *   outcomes it is shown (`observe`), so it can aim reads at current, compacted and future
 *   revisions.
 * - `executeOp`: runs one `RandomOp` against a store (fresh argument buffers per call).
 * - `runRandomOps(a, b, { seed, ops })`: the whole loop.
 *
 * A mismatch reports the seed and the op index; `runRandomOps(a, b, { seed, ops: index + 1 })`
 * replays the sequence up to it.
 */
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { isAxisError } from '../../ts/errors/index.js';
import {
  Limits,
  type Bytes,
  type Compare,
  type CompareResult,
  type CompareTarget,
  type KV,
  type RangeOptions,
  type RequestOp,
  type Snapshot,
  type SortOrder,
  type SortTarget,
  type TxnRequest,
} from '../../ts/storage/types.js';
import { plain } from './kv-suite.js';
import { mulberry32 } from './fixtures.js';

export type Store = KV & { snapshot(): Snapshot };

// ---------------------------------------------------------------------------------------------
// PRNG

/** mulberry32: a tiny, fast, seedable 32-bit PRNG. Returns floats in [0, 1). */
export { mulberry32 };

export class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  float(): number {
    return this.next();
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** An integer in [lo, hi]. */
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error('pick from an empty list');
    return xs[this.int(xs.length)]!;
  }
  /** Picks one of `choices` with probability proportional to its weight. */
  weighted<T>(choices: ReadonlyArray<readonly [number, T]>): T {
    const total = choices.reduce((sum, [w]) => sum + w, 0);
    let x = this.float() * total;
    for (const [w, v] of choices) {
      if (x < w) return v;
      x -= w;
    }
    return choices[choices.length - 1]![1];
  }
}

// ---------------------------------------------------------------------------------------------
// ops

const bin = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Bytes an op passes: re-created for every call, as a string (ASCII only), a Buffer or a plain Uint8Array. */
export class ArgBytes {
  constructor(
    readonly bytes: Buffer,
    readonly as: 'string' | 'buffer' | 'uint8',
  ) {}
  make(): Bytes {
    if (this.as === 'string') return this.bytes.toString('latin1');
    if (this.as === 'buffer') return Buffer.from(this.bytes);
    return new Uint8Array(this.bytes);
  }
}

export type WriteMethod = 'put' | 'delete' | 'deleteRange' | 'txn' | 'compact';
export type ReadMethod = 'get' | 'range' | 'prefix' | 'history' | 'changes';
export const WRITES: ReadonlySet<string> = new Set<WriteMethod>(['put', 'delete', 'deleteRange', 'txn', 'compact']);

/**
 * One call: `method(...args)` on the store or on the `on`-th snapshot taken so far.
 * `snapshot` (on the store) takes a snapshot; `release` releases snapshot `on`.
 * `args` hold `ArgBytes` where bytes go, and deliberately bad values for bad-input ops.
 */
export type RandomOp =
  | { on: 'store'; method: WriteMethod | ReadMethod | 'snapshot'; args: unknown[] }
  | { on: number; method: ReadMethod | 'release'; args: unknown[] };

/** What a call did: its result (undefined properties dropped), or its error code. */
export type Outcome =
  | { ok: unknown }
  | { error: string }
  /** A write threw instead of returning a rejected promise, or did not return a promise. */
  | { misbehaved: string }
  /** Anything that is not an AxisError: always a bug. */
  | { unexpected: string };

/** A fresh copy of `args`, with `ArgBytes` made into real bytes; buffers made are collected in `made`. */
function materialize(x: unknown, made: Uint8Array[]): unknown {
  if (x instanceof ArgBytes) {
    const b = x.make();
    if (typeof b !== 'string') made.push(b);
    return b;
  }
  if (x instanceof Uint8Array) {
    const copy = Buffer.from(x);
    made.push(copy);
    return copy;
  }
  if (Array.isArray(x)) return x.map((v) => materialize(v, made));
  if (typeof x === 'object' && x !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) out[k] = materialize(v, made);
    return out;
  }
  return x;
}

function failure(err: unknown): Outcome {
  return isAxisError(err) ? { error: err.code } : { unexpected: inspect(err) };
}

/**
 * Runs one op on `store`. `snapshots` is this store's list of snapshots taken so far (a
 * `snapshot` op appends to it). Argument buffers are scribbled over once the call is done, so a
 * store that keeps references to its callers' buffers shows up as a mismatch later.
 */
export async function executeOp(store: Store, snapshots: Snapshot[], op: RandomOp): Promise<Outcome> {
  const made: Uint8Array[] = [];
  const args = materialize(op.args, made) as unknown[];
  try {
    if (op.method === 'snapshot') {
      try {
        const snap = store.snapshot();
        snapshots.push(snap);
        return { ok: { revision: snap.revision } };
      } catch (err) {
        return failure(err);
      }
    }
    const self: object | undefined = op.on === 'store' ? store : snapshots[op.on];
    if (self === undefined) return { unexpected: `the harness has no snapshot #${op.on}` };
    const fn = (self as Record<string, unknown>)[op.method];
    if (typeof fn !== 'function') return { unexpected: `no method ${op.method}` };
    let result: unknown;
    try {
      result = fn.apply(self, args);
    } catch (err) {
      if (WRITES.has(op.method)) return { misbehaved: `${op.method} threw synchronously: ${inspect(err)}` };
      return failure(err);
    }
    if (WRITES.has(op.method) && typeof (result as Promise<unknown> | undefined)?.then !== 'function') {
      return { misbehaved: `${op.method} did not return a promise` };
    }
    try {
      return { ok: plain(await result) };
    } catch (err) {
      return failure(err);
    }
  } finally {
    for (const b of made) b.fill(0x5a);
  }
}

/** A short, readable rendering of an op for failure messages. */
export function describeOp(op: RandomOp): string {
  const show = (x: unknown): unknown => {
    if (x instanceof ArgBytes) {
      return `${x.as}'${escapeBytes(x.bytes.subarray(0, 40))}'${x.bytes.length > 40 ? `…(${x.bytes.length} bytes)` : ''}`;
    }
    if (x instanceof Uint8Array) return `<${x.length} bytes>`;
    if (Array.isArray(x)) return x.map(show);
    if (typeof x === 'object' && x !== null) return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, show(v)]));
    return x;
  };
  const target = op.on === 'store' ? 'store' : `snapshot[${op.on}]`;
  const text = `${target}.${op.method}(${inspect(show(op.args), { depth: 8, breakLength: Infinity }).slice(1, -1).trim()})`;
  return text.length > 2000 ? `${text.slice(0, 2000)}…` : text;
}

// ---------------------------------------------------------------------------------------------
// the generator

/** 30 keys with shared prefixes, 0x00 and 0xff bytes. */
export const KEYS: readonly Buffer[] = [
  'a', 'a/', 'a/1', 'a/2', 'a/10', 'a/b', 'a/b/c', 'a0', 'ab',
  'b', 'b/1', 'b/2', 'b/\xff', 'b/\xff\xff',
  'foo', 'foo/bar', 'foo/baz', 'foo/bar/qux', 'foo0',
  'k1', 'k2', 'k3',
  'x', 'x\x00', 'x\xff', 'x\xff\xff',
  'z',
  '\xff', '\xff\x00', '\xff\xff',
].map(bin);

const PREFIXES: readonly Buffer[] = ['a', 'a/', 'a/b', 'b/', 'b/\xff', 'foo', 'foo/', 'foo/bar', 'k', 'x', 'x\xff', '\xff', '\xff\xff', 'q', 'z\xff'].map(bin);
const EXTRA_POINTS: readonly Buffer[] = ['a/1\x00', 'c', 'm', 'foo/bar\xff', '\x01'].map(bin);
const SMALL_VALUES: readonly Buffer[] = ['', 'v0', 'v1', 'v2', 'x', 'yy'].map(bin);
const SORT_TARGETS: readonly SortTarget[] = ['key', 'version', 'createRevision', 'modRevision', 'value'];
const SORT_ORDERS: readonly SortOrder[] = ['ascend', 'descend'];
const COMPARE_TARGETS: readonly CompareTarget[] = ['value', 'version', 'createRevision', 'modRevision', 'lease'];
const COMPARE_RESULTS: readonly CompareResult[] = ['=', '!=', '<', '>'];

/** Held (unreleased) snapshots at most. */
const MAX_HELD_SNAPSHOTS = 8;

export interface GenState {
  /** The store's revision, as the outcomes shown to `observe` tell. */
  revision: number;
  compactRevision: number;
  snapshots: Array<{ revision: number; floor: number; released: boolean }>;
}

/** What a read is aimed at: the store now, or a snapshot. */
interface Bounds {
  current: number;
  floor: number;
}

export class RandomOpGenerator {
  readonly rng: Rng;
  readonly state: GenState = { revision: 1, compactRevision: 0, snapshots: [] };
  /** Keys the txn being generated concentrates on, so its ops (and nested compares) meet each other. */
  private hot: Buffer[] = [];
  /** Keys the txn being generated writes, so later (nested) compares can look at them. */
  private written: Buffer[] = [];

  constructor(readonly seed: number) {
    this.rng = new Rng(seed);
  }

  /** Tells the generator what an op did (on the reference store), so it can track revisions. */
  observe(op: RandomOp, outcome: Outcome): void {
    if (!('ok' in outcome)) return;
    const ok = outcome.ok as { revision?: number } | undefined;
    switch (op.method) {
      case 'put':
      case 'delete':
      case 'deleteRange':
      case 'txn':
        if (typeof ok?.revision === 'number') this.state.revision = ok.revision;
        break;
      case 'compact':
        this.state.compactRevision = op.args[0] as number;
        break;
      case 'snapshot':
        this.state.snapshots.push({ revision: ok?.revision ?? 0, floor: this.state.compactRevision, released: false });
        break;
      case 'release': {
        const s = this.state.snapshots[op.on as number];
        if (s) s.released = true;
        break;
      }
      default:
        break;
    }
  }

  next(): RandomOp {
    const r = this.rng;
    const held = this.heldSnapshots();
    const any = this.state.snapshots.length > 0;
    const make = r.weighted<() => RandomOp>([
      [28, () => this.put()],
      [3, () => this.delete()],
      [3, () => this.deleteRange()],
      [14, () => ({ on: 'store', method: 'txn', args: [this.txnRequest()] })],
      [2, () => this.compact()],
      [held.length < MAX_HELD_SNAPSHOTS ? 3 : 0, () => ({ on: 'store', method: 'snapshot', args: [] })],
      [held.length > 0 ? 2 : 0, () => ({ on: r.pick(held), method: 'release', args: [] })],
      [32, () => this.read('store', this.storeBounds())],
      [any ? 8 : 0, () => this.snapshotRead()],
      [3, () => this.badInput()],
    ]);
    return make();
  }

  /** Reads that show the whole state: used at the end of a run. */
  finalReads(): RandomOp[] {
    const floor = Math.max(this.state.compactRevision, 1);
    const ops: RandomOp[] = [
      { on: 'store', method: 'prefix', args: [new ArgBytes(Buffer.alloc(0), 'buffer')] },
      { on: 'store', method: 'changes', args: [floor] },
      ...KEYS.map((k): RandomOp => ({ on: 'store', method: 'history', args: [new ArgBytes(k, 'buffer')] })),
    ];
    for (const [i, s] of this.state.snapshots.entries()) {
      if (s.released) continue;
      ops.push({ on: i, method: 'prefix', args: [new ArgBytes(Buffer.alloc(0), 'buffer')] });
      ops.push({ on: i, method: 'changes', args: [Math.max(s.floor, 1)] });
    }
    return ops;
  }

  // ---- pieces ----

  private heldSnapshots(): number[] {
    return this.state.snapshots.flatMap((s, i) => (s.released ? [] : [i]));
  }

  private storeBounds(): Bounds {
    return { current: this.state.revision, floor: this.state.compactRevision };
  }

  private maybe<T>(p: number, f: () => T): T | undefined {
    return this.rng.chance(p) ? f() : undefined;
  }

  private arg(b: Buffer): ArgBytes {
    const ascii = b.every((c) => c < 0x80);
    return new ArgBytes(b, this.rng.pick(ascii ? (['string', 'buffer', 'uint8'] as const) : (['buffer', 'uint8'] as const)));
  }

  private keyBytes(): Buffer {
    return this.rng.pick(KEYS);
  }

  private key(): ArgBytes {
    return this.arg(this.keyBytes());
  }

  /** A point to start or end a range at (never empty). */
  private pointBytes(): Buffer {
    const r = this.rng;
    return r.weighted<() => Buffer>([
      [70, () => r.pick(KEYS)],
      [20, () => r.pick(PREFIXES)],
      [10, () => r.pick(EXTRA_POINTS)],
    ])();
  }

  /** [start, end] for `range`/`deleteRange`: end null, undefined or a point; rarely end < start. */
  private span(): [ArgBytes, ArgBytes | null | undefined] {
    const r = this.rng;
    const start = this.pointBytes();
    const x = r.float();
    if (x < 0.15) return [this.arg(start), null];
    if (x < 0.25) return [this.arg(start), undefined];
    if (x < 0.3) return [this.arg(start), this.arg(start)];
    let end = this.pointBytes();
    let s = start;
    if (Buffer.compare(s, end) > 0 && r.chance(0.95)) [s, end] = [end, s];
    return [this.arg(s), this.arg(end)];
  }

  /** A rangeEnd for a txn op: absent (one key), null (every key from start), or a point. */
  private opRangeEnd(start: Buffer): ArgBytes | null | undefined {
    const r = this.rng;
    const x = r.float();
    if (x < 0.45) return undefined;
    if (x < 0.6) return null;
    const end = this.pointBytes();
    if (Buffer.compare(start, end) > 0 && r.chance(0.95)) return this.arg(bin(start.toString('latin1') + '\xff'));
    return this.arg(end);
  }

  private valueBytes(): Buffer {
    const r = this.rng;
    const x = r.float();
    if (x < 0.12) return Buffer.alloc(0);
    if (x < 0.55) return r.pick(SMALL_VALUES);
    if (x < 0.85) return Buffer.from(Array.from({ length: r.between(1, 40) }, () => r.int(256)));
    const length = x < 0.97 ? r.between(100, 4000) : r.between(20_000, 200_000);
    const step = r.between(1, 255);
    const b = Buffer.alloc(length);
    for (let i = 0; i < length; i++) b[i] = (i * step) & 0xff;
    b[r.int(length)] = r.int(256);
    return b;
  }

  private value(): ArgBytes {
    return this.arg(this.valueBytes());
  }

  /** A read revision: mostly absent/latest, else in range, at the floor, below it (compacted) or in the future. */
  private revision(b: Bounds): number | undefined {
    const r = this.rng;
    const x = r.float();
    if (x < 0.45) return undefined;
    if (x < 0.5) return 0;
    if (x < 0.75) return r.between(Math.max(b.floor, 1), b.current);
    if (x < 0.82) return b.current;
    if (x < 0.87) return Math.max(b.floor, 1);
    if (x < 0.93) return Math.max(b.floor - 1, 1);
    return b.current + r.between(1, 3);
  }

  /** A revision-ish number for filters, history bounds and numeric compares. */
  private someRevision(b: Bounds): number {
    const r = this.rng;
    return r.weighted<() => number>([
      [5, () => r.between(1, b.current + 1)],
      [1, () => b.current],
      [1, () => Math.max(b.floor, 1)],
      [1, () => Math.max(b.floor - 1, 0)],
      [1, () => 0],
    ])();
  }

  private rangeOptions(b: Bounds): RangeOptions | undefined {
    const r = this.rng;
    if (r.chance(0.2)) return undefined;
    const o: RangeOptions = {};
    const rev = this.revision(b);
    if (rev !== undefined) o.revision = rev;
    if (r.chance(0.35)) o.limit = r.pick([0, 1, 2, 3, 5]);
    if (r.chance(0.15)) o.keysOnly = true;
    if (r.chance(0.1)) o.countOnly = true;
    if (r.chance(0.3)) {
      const sort: { target?: SortTarget; order?: SortOrder } = {};
      if (r.chance(0.8)) sort.target = r.pick(SORT_TARGETS);
      if (r.chance(0.8)) sort.order = r.pick(SORT_ORDERS);
      o.sort = sort;
    }
    if (r.chance(0.08)) o.minModRevision = this.someRevision(b);
    if (r.chance(0.08)) o.maxModRevision = this.someRevision(b);
    if (r.chance(0.08)) o.minCreateRevision = this.someRevision(b);
    if (r.chance(0.08)) o.maxCreateRevision = this.someRevision(b);
    return o;
  }

  private putOptions(): { lease?: number; prevKv?: boolean; ignoreValue?: boolean; ignoreLease?: boolean } | undefined {
    const r = this.rng;
    if (r.chance(0.4)) return undefined;
    const o: { lease?: number; prevKv?: boolean; ignoreValue?: boolean; ignoreLease?: boolean } = {};
    if (r.chance(0.5)) o.prevKv = r.chance(0.8);
    if (r.chance(0.12)) o.ignoreValue = true;
    if (r.chance(0.12)) o.ignoreLease = true;
    else if (r.chance(0.3)) o.lease = r.between(0, 3);
    return o;
  }

  private put(): RandomOp {
    const options = this.putOptions();
    const value = options?.ignoreValue ? this.arg(Buffer.alloc(0)) : this.value();
    return { on: 'store', method: 'put', args: [this.key(), value, options] };
  }

  private delete(): RandomOp {
    return { on: 'store', method: 'delete', args: [this.key(), this.maybe(0.5, () => ({ prevKv: this.rng.chance(0.7) }))] };
  }

  private deleteRange(): RandomOp {
    const [start, end] = this.span();
    return { on: 'store', method: 'deleteRange', args: [start, end, this.maybe(0.5, () => ({ prevKv: this.rng.chance(0.7) }))] };
  }

  private compact(): RandomOp {
    const r = this.rng;
    const { revision, compactRevision } = this.state;
    let target: number;
    // Valid targets mostly lag well behind the head, so older revisions stay readable for a while.
    if (compactRevision < revision && r.chance(0.6)) {
      target = r.chance(0.15) ? revision : r.between(compactRevision + 1, Math.max(compactRevision + 1, revision - 15));
    }
    else target = r.pick([compactRevision, Math.max(compactRevision - 1, 0), revision + 1, revision + r.between(2, 5)]);
    return { on: 'store', method: 'compact', args: [target, this.maybe(0.3, () => ({ physical: true }))] };
  }

  /** A key for a txn op: often one of the txn's hot keys. */
  private txnKeyBytes(p: number): Buffer {
    return this.hot.length > 0 && this.rng.chance(p) ? this.rng.pick(this.hot) : this.keyBytes();
  }

  private compare(): Compare {
    const r = this.rng;
    const keyBytes = this.written.length > 0 && r.chance(0.4) ? r.pick(this.written) : this.txnKeyBytes(0.6);
    const c: Compare = {
      key: this.arg(keyBytes) as unknown as Bytes,
      target: r.pick(COMPARE_TARGETS),
      result: r.pick(COMPARE_RESULTS),
      value: 0,
    };
    if (r.chance(0.2)) {
      const end = this.opRangeEnd(keyBytes);
      if (end) c.rangeEnd = end as unknown as Bytes;
    }
    if (c.target === 'value') c.value = this.arg(r.chance(0.8) ? r.pick(SMALL_VALUES) : this.valueBytes()) as unknown as Bytes;
    else if (c.target === 'version' || c.target === 'lease') c.value = r.between(0, 3);
    else c.value = this.someRevision(this.storeBounds());
    return c;
  }

  private txnOp(depth: number): RequestOp {
    const r = this.rng;
    const kind = r.weighted([
      [45, 'put'],
      [12, 'deleteRange'],
      [25, 'range'],
      [depth < 2 ? 18 : 0, 'txn'],
    ] as const);
    if (kind === 'put') {
      const options = this.putOptions();
      const value = options?.ignoreValue ? this.arg(Buffer.alloc(0)) : this.value();
      const key = this.txnKeyBytes(0.4);
      this.written.push(key);
      return { put: { key: this.arg(key) as unknown as Bytes, value: value as unknown as Bytes, ...options } };
    }
    if (kind === 'txn') return { txn: this.txnRequest(depth + 1) };
    const start = this.txnKeyBytes(0.5);
    const key = this.arg(start) as unknown as Bytes;
    const rangeEnd = this.opRangeEnd(start) as unknown as Bytes | null | undefined;
    if (kind === 'deleteRange') {
      this.written.push(start);
      const op: { key: Bytes; rangeEnd?: Bytes | null; prevKv?: boolean } = { key };
      if (rangeEnd !== undefined) op.rangeEnd = rangeEnd;
      if (r.chance(0.4)) op.prevKv = true;
      return { deleteRange: op };
    }
    const op: { key: Bytes; rangeEnd?: Bytes | null } & RangeOptions = { key, ...this.rangeOptions(this.storeBounds()) };
    if (rangeEnd !== undefined) op.rangeEnd = rangeEnd;
    return { range: op };
  }

  /** A random txn request (top level when depth is 0; nested ones go two levels deep at most). */
  txnRequest(depth = 0): TxnRequest {
    const r = this.rng;
    if (depth === 0) {
      this.hot = Array.from({ length: r.between(1, 3) }, () => this.keyBytes());
      this.written = [];
    }
    const t: TxnRequest = {};
    if (r.chance(0.8)) t.compare = Array.from({ length: r.int(4) }, () => this.compare());
    if (r.chance(0.85)) t.success = Array.from({ length: r.int(depth === 0 ? 5 : 3) }, () => this.txnOp(depth));
    if (r.chance(0.6)) t.failure = Array.from({ length: r.int(depth === 0 ? 4 : 3) }, () => this.txnOp(depth));
    return t;
  }

  private read(on: 'store' | number, b: Bounds): RandomOp {
    const r = this.rng;
    const kind = r.weighted([
      [9, 'get'],
      [9, 'range'],
      [5, 'prefix'],
      [4, 'history'],
      [5, 'changes'],
    ] as const);
    let args: unknown[];
    switch (kind) {
      case 'get': {
        const rev = this.revision(b);
        args = [this.key(), rev === undefined ? undefined : { revision: rev }];
        break;
      }
      case 'range': {
        const [start, end] = this.span();
        args = [start, end, this.rangeOptions(b)];
        break;
      }
      case 'prefix': {
        const p = r.weighted<() => Buffer>([
          [6, () => r.pick(PREFIXES)],
          [2, () => r.pick(KEYS)],
          [1, () => Buffer.alloc(0)],
        ])();
        args = [this.arg(p), this.rangeOptions(b)];
        break;
      }
      case 'history': {
        const o: { from?: number; to?: number } = {};
        if (r.chance(0.4)) o.from = this.someRevision(b);
        if (r.chance(0.4)) o.to = r.chance(0.15) ? b.current + 1 : this.someRevision(b);
        args = [this.key(), r.chance(0.25) ? undefined : o];
        break;
      }
      case 'changes': {
        const from = r.weighted<() => number>([
          [4, () => r.between(Math.max(b.floor, 1), b.current + 1)],
          [1, () => 1],
          [1, () => Math.max(b.floor, 1)],
          [1, () => Math.max(b.floor - 1, 1)],
          [1, () => b.current + 1],
          [1, () => b.current + 2],
        ])();
        const o: { to?: number; limit?: number } = {};
        if (r.chance(0.35)) o.to = r.chance(0.15) ? b.current + 1 : this.someRevision(b);
        if (r.chance(0.5)) o.limit = r.between(0, 6);
        args = [from, r.chance(0.25) ? undefined : o];
        break;
      }
    }
    return { on, method: kind, args } as RandomOp;
  }

  private snapshotRead(): RandomOp {
    const r = this.rng;
    const held = this.heldSnapshots();
    const all = this.state.snapshots.map((_, i) => i);
    const i = held.length > 0 && r.chance(0.85) ? r.pick(held) : r.pick(all);
    const s = this.state.snapshots[i]!;
    return this.read(i, { current: s.revision, floor: s.floor });
  }

  /** An op with exactly one thing wrong with it. */
  private badInput(): RandomOp {
    const r = this.rng;
    const empty = new ArgBytes(Buffer.alloc(0), r.pick(['string', 'buffer', 'uint8'] as const));
    const bigKey = new ArgBytes(Buffer.alloc(Limits.maxKeyBytes + 1, 0x6b), 'buffer');
    const k = (): ArgBytes => this.key();
    const v = (): ArgBytes => this.value();
    const reversed = (): [ArgBytes, ArgBytes] => {
      // Two distinct keys, the larger first.
      const [x, y] = [KEYS[r.int(15)]!, KEYS[15 + r.int(15)]!];
      return Buffer.compare(x, y) < 0 ? [this.arg(y), this.arg(x)] : [this.arg(x), this.arg(y)];
    };
    const s = (method: WriteMethod | ReadMethod, ...args: unknown[]): RandomOp => ({ on: 'store', method, args });
    const cases: Array<() => RandomOp> = [
      () => s('put', empty, v()),
      () => s('put', bigKey, v()),
      () => s('put', k(), v(), { lease: -1 }),
      () => s('put', k(), v(), { lease: 1.5 }),
      () => s('put', k(), this.arg(bin('x')), { ignoreValue: true }),
      () => s('put', k(), v(), { ignoreLease: true, lease: 2 }),
      () => s('put', 42, v()),
      () => s('put', k(), null),
      () => s('get', empty),
      () => s('get', k(), { revision: -1 }),
      () => s('range', k(), null, { limit: -1 }),
      () => s('range', k(), null, { revision: 2.5 }),
      () => s('range', k(), null, { sort: { target: 'size' } }),
      () => s('range', k(), null, { sort: { order: 'up' } }),
      () => s('range', ...reversed()),
      () => s('prefix', bigKey),
      () => s('get', bigKey),
      () => s('range', k(), bigKey),
      () => s('deleteRange', k(), bigKey),
      () => s('txn', { compare: [{ key: bigKey, target: 'version', result: '=', value: 0 }] }),
      () => s('history', bigKey),
      () => s('delete', empty),
      () => s('deleteRange', ...reversed()),
      () => s('txn', { compare: [{ key: k(), target: 'size', result: '=', value: 0 }] }),
      () => s('txn', { compare: [{ key: k(), target: 'version', result: '>=', value: 0 }] }),
      () => s('txn', { compare: [{ key: k(), target: 'version', result: '=', value: -1 }] }),
      () => s('txn', { success: [{ bogus: {} }] }),
      () => s('txn', { success: Array.from({ length: Limits.maxTxnOps + 1 }, (_, i) => ({ put: { key: `many${i}`, value: 'x' } })) }),
      () => s('txn', { success: [{ put: { key: k(), value: 'x' } }, { put: { key: new ArgBytes(bin('dup'), 'buffer'), value: '1' } }, { put: { key: 'dup', value: '2' } }] }),
      () => s('txn', null),
      () => s('history', empty),
      () => s('changes', 0),
      () => s('changes', -3),
      () => s('changes', 1.5),
      () => s('compact', -1),
      () => s('compact', 2.5),
    ];
    if (r.chance(0.1)) return s('put', k(), new ArgBytes(hugeValue(), 'buffer'));
    return r.pick(cases)();
  }
}

let huge: Buffer | undefined;
function hugeValue(): Buffer {
  huge ??= Buffer.alloc(Limits.maxValueBytes + 1, 0x68);
  return huge;
}

// ---------------------------------------------------------------------------------------------
// the loop

/** Printable ASCII as is, every other byte as \\xNN. */
function escapeBytes(b: Uint8Array): string {
  let out = '';
  for (const c of b) out += c >= 0x20 && c < 0x7f && c !== 0x5c && c !== 0x27 ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  return out;
}

/** An outcome with bytes shown as strings ("b'...'"), for readable diffs. */
function display(x: unknown): unknown {
  if (x instanceof Uint8Array) {
    return `${Buffer.isBuffer(x) ? 'b' : 'u8'}'${escapeBytes(x.subarray(0, 64))}'${x.length > 64 ? `…(${x.length} bytes)` : ''}`;
  }
  if (Array.isArray(x)) return x.map(display);
  if (typeof x === 'object' && x !== null) return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, display(v)]));
  return x;
}

function diffOf(a: unknown, b: unknown): string {
  try {
    assert.deepStrictEqual(a, b);
    return '';
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

export function check(seed: number, index: number, op: RandomOp, a: Outcome, b: Outcome): void {
  const where = (): string => `random ops seed=${seed} op #${index}: ${describeOp(op)}`;
  for (const [name, o] of [['a', a], ['b', b]] as const) {
    if ('unexpected' in o) assert.fail(`${where()}\nstore ${name} failed with a non-AxisError: ${o.unexpected}`);
    if ('misbehaved' in o) assert.fail(`${where()}\nstore ${name}: ${o.misbehaved}`);
  }
  if (diffOf(a, b) === '') return;
  // Show the difference with bytes as strings; fall back to the raw diff when only the types differ.
  const diff = diffOf(display(a), display(b)) || diffOf(a, b);
  assert.fail(`${where()}\nstores a (actual) and b (expected) disagree:\n${diff}`);
}

/**
 * Drives `a` and `b` with the same `ops` random operations (from `seed`), then compares their
 * whole state. `a` is the reference the generator tracks revisions from. Snapshots taken are
 * released at the end; the stores are left open.
 */
export async function runRandomOps(a: Store, b: Store, { seed, ops }: { seed: number; ops: number }): Promise<void> {
  const gen = new RandomOpGenerator(seed);
  const snapsA: Snapshot[] = [];
  const snapsB: Snapshot[] = [];
  try {
    for (let i = 0; i < ops; i++) {
      const op = gen.next();
      const oa = await executeOp(a, snapsA, op);
      const ob = await executeOp(b, snapsB, op);
      check(seed, i, op, oa, ob);
      gen.observe(op, oa);
    }
    for (const [j, op] of gen.finalReads().entries()) {
      check(seed, ops + j, op, await executeOp(a, snapsA, op), await executeOp(b, snapsB, op));
    }
  } finally {
    for (const snap of [...snapsA, ...snapsB]) {
      try {
        snap.release();
      } catch {
        // already released, or the store is gone: nothing to do
      }
    }
  }
}
