/**
 * ModelStore: a small, obviously-correct, in-memory implementation of `KV` (plus `snapshot()` and
 * `status()`). It is the specification the native store is compared against, so it favours plain
 * data and linear scans over speed.
 *
 * The whole state is one append-only list of versions, in (revision, sub-revision) order. A put
 * appends a version with the value; a deletion appends a tombstone. Nothing is ever removed:
 * compaction only raises the floor below which reads are refused, which makes "every read at or
 * above the floor answers as before" (and pinned snapshots) trivially true.
 *
 * Writes run synchronously inside their async method, so every write is atomic with respect to
 * every other call. A txn appends its versions at revision+1 as it goes (so later ops of the same
 * txn read them) and truncates the list back if any op fails.
 *
 * Where the spec leaves a choice open, the model picks the following (the random differential
 * test holds other implementations to these too):
 * - A range op in a txn with an explicit `revision` is checked against the revision before the
 *   txn (as etcd does), so asking for the txn's own new revision is AXIS_FUTURE_REVISION.
 * - A compare whose key (or range) has no live key: a value compare is false, the others compare
 *   against zero (etcd's rule).
 * - `keysOnly` with a sort on 'value' sorts by the real values, then blanks them (as etcd does).
 * - `compact(0)` is AXIS_INVALID_ARGUMENT; anything at or below the floor is AXIS_COMPACTED.
 * - `history` checks from < floor (AXIS_COMPACTED), then to > current (AXIS_FUTURE_REVISION),
 *   then from > to (AXIS_INVALID_RANGE); `from`/`to` 0 mean the defaults.
 * - `changes` with `to` below `fromRevision` returns no events (next = fromRevision).
 * - `close()` twice is fine; a snapshot read after the store is closed is AXIS_CLOSED.
 */
import { AxisError, ErrorCode } from '../../ts/errors/index.js';
import type {
  Bytes,
  ChangesOptions,
  ChangesResult,
  Compare,
  CompactOptions,
  DeleteOptions,
  DeleteResult,
  Event,
  EventType,
  HistoryOptions,
  KeyValue,
  KV,
  PutOptions,
  PutResult,
  RangeOptions,
  RangeResult,
  ReadOptions,
  RequestOp,
  ResponseOp,
  Snapshot,
  SortTarget,
  StoreStatus,
  TxnRequest,
  TxnResult,
} from '../../ts/storage/types.js';
import {
  checkCount,
  checkKey,
  checkRange,
  checkRangeOptions,
  checkTxn,
  prefixEnd,
  toBuffer,
} from '../../ts/storage/validate.js';

/** Reads "the latest" inside a txn: includes the versions the txn has written so far. */
const PENDING = Number.MAX_SAFE_INTEGER;

/** One entry of the log: a put (with its key-value) or a tombstone (every number but `rev` zero). */
interface Version {
  key: Buffer;
  /** `key` as a latin1 string: one char per byte, for map lookups and equality. */
  id: string;
  rev: number;
  sub: number;
  type: EventType;
  value: Buffer;
  createRevision: number;
  version: number;
  lease: number;
}

/** The keys a read, delete or compare covers: one key (end undefined), [start, end), or every key ≥ start (end null). */
interface KeySpan {
  start: Buffer;
  end: Buffer | null | undefined;
}

/** The bounds a read is answered within: the store now, a snapshot, or a txn in progress. */
interface View {
  /** The revision reported in results, and the newest revision a read may ask for. */
  current: number;
  /** The compaction floor: reads below it are refused. */
  floor: number;
  /** The revision a read without `revision` (or with 0) sees. */
  latest: number;
}

function fail(code: ErrorCode, message: string): never {
  throw new AxisError(code, message);
}

function covers(span: KeySpan, key: Buffer): boolean {
  if (span.end === undefined) return key.equals(span.start);
  return Buffer.compare(key, span.start) >= 0 && (span.end === null || Buffer.compare(key, span.end) < 0);
}

/** A request op's key span: rangeEnd absent is the one key, null every key from `key` on. */
function opSpan(key: Bytes, rangeEnd: Bytes | null | undefined): KeySpan {
  return {
    start: toBuffer(key, 'key'),
    end: rangeEnd === undefined ? undefined : rangeEnd === null ? null : toBuffer(rangeEnd, 'range end'),
  };
}

function toKV(v: Version, keysOnly = false): KeyValue {
  return {
    key: Buffer.from(v.key),
    value: keysOnly ? Buffer.alloc(0) : Buffer.from(v.value),
    createRevision: v.createRevision,
    modRevision: v.rev,
    version: v.version,
    lease: v.lease,
  };
}

function toEvent(v: Version): Event {
  return { type: v.type, kv: toKV(v) };
}

function checkOptionsObject(o: unknown): void {
  if (o !== undefined && (typeof o !== 'object' || o === null)) fail(ErrorCode.INVALID_ARGUMENT, 'options must be an object');
}

function sortKey(v: Version, target: SortTarget): Buffer | number {
  switch (target) {
    case 'key':
      return v.key;
    case 'value':
      return v.value;
    case 'version':
      return v.version;
    case 'createRevision':
      return v.createRevision;
    case 'modRevision':
      return v.rev;
  }
}

function compareValues(a: Buffer | number, b: Buffer | number): number {
  if (typeof a === 'number' && typeof b === 'number') return Math.sign(a - b);
  return Buffer.compare(a as Buffer, b as Buffer);
}

function within(n: number, min: number | undefined, max: number | undefined): boolean {
  return (!min || n >= min) && (!max || n <= max);
}

/** The version list and every read on it; shared by the store, its snapshots and its txns. */
class VersionLog {
  readonly versions: Version[] = [];

  /** The newest version of `key` at or below `at` (put or tombstone). */
  newest(key: Buffer, at: number): Version | undefined {
    const id = key.toString('latin1');
    let found: Version | undefined;
    for (const v of this.versions) {
      if (v.rev > at) break;
      if (v.id === id) found = v;
    }
    return found;
  }

  /** The live (not deleted) keys of `span` at revision `at`, in key order. */
  live(span: KeySpan, at: number): Version[] {
    const newest = new Map<string, Version>();
    for (const v of this.versions) {
      if (v.rev > at) break;
      if (covers(span, v.key)) newest.set(v.id, v);
    }
    return [...newest.values()].filter((v) => v.type === 'put').sort((a, b) => Buffer.compare(a.key, b.key));
  }

  /** The revision a read with `revision` (validated) is answered at. */
  readAt(view: View, revision: number | undefined): number {
    const r = revision ?? 0;
    if (r > view.current) fail(ErrorCode.FUTURE_REVISION, `revision ${r} is after the current revision ${view.current}`);
    if (r > 0 && r < view.floor) fail(ErrorCode.COMPACTED, `revision ${r} is below the compaction floor ${view.floor}`);
    return r === 0 ? view.latest : r;
  }

  get(view: View, key: Bytes, options?: ReadOptions): KeyValue | undefined {
    const k = checkKey(key);
    checkRangeOptions(options);
    const v = this.newest(k, this.readAt(view, options?.revision));
    return v?.type === 'put' ? toKV(v) : undefined;
  }

  range(view: View, start: Bytes, end: Bytes | null | undefined, options?: RangeOptions): RangeResult {
    const [s, e] = checkRange(start, end);
    checkRangeOptions(options);
    return this.rangeSpan(view, { start: s, end: e }, options ?? {});
  }

  prefix(view: View, prefix: Bytes, options?: RangeOptions): RangeResult {
    const p = toBuffer(prefix, 'prefix');
    let span: KeySpan;
    if (p.length === 0) {
      span = { start: p, end: null }; // the empty prefix: every key
    } else {
      const [s, e] = checkRange(p, prefixEnd(p));
      span = { start: s, end: e };
    }
    checkRangeOptions(options);
    return this.rangeSpan(view, span, options ?? {});
  }

  /** A validated range read: count before filters, then filters, sort (stable), limit. */
  rangeSpan(view: View, span: KeySpan, o: RangeOptions): RangeResult {
    const live = this.live(span, this.readAt(view, o.revision));
    const count = live.length;
    if (o.countOnly) return { kvs: [], more: false, count, revision: view.current };
    let kvs = live.filter(
      (v) =>
        within(v.rev, o.minModRevision, o.maxModRevision) &&
        within(v.createRevision, o.minCreateRevision, o.maxCreateRevision),
    );
    if (o.sort) {
      const target = o.sort.target ?? 'key';
      const sign = o.sort.order === 'descend' ? -1 : 1;
      // Array.prototype.sort is stable: ties keep the key order `live` has.
      kvs.sort((a, b) => sign * compareValues(sortKey(a, target), sortKey(b, target)));
    }
    const limit = o.limit ?? 0;
    const more = limit > 0 && kvs.length > limit;
    if (more) kvs = kvs.slice(0, limit);
    return { kvs: kvs.map((v) => toKV(v, o.keysOnly)), more, count, revision: view.current };
  }

  history(view: View, key: Bytes, options?: HistoryOptions): Event[] {
    const k = checkKey(key);
    checkOptionsObject(options);
    const from = checkCount(options?.from, 'from') || Math.max(view.floor, 1);
    const to = checkCount(options?.to, 'to') || view.current;
    if (from < view.floor) fail(ErrorCode.COMPACTED, `from ${from} is below the compaction floor ${view.floor}`);
    if (to > view.current) fail(ErrorCode.FUTURE_REVISION, `to ${to} is after the current revision ${view.current}`);
    if (from > to) fail(ErrorCode.INVALID_RANGE, `from ${from} is after to ${to}`);
    const id = k.toString('latin1');
    return this.versions.filter((v) => v.rev >= from && v.rev <= to && v.id === id).map(toEvent);
  }

  changes(view: View, fromRevision: number, options?: ChangesOptions): ChangesResult {
    const from = checkCount(fromRevision, 'fromRevision');
    if (from === 0) fail(ErrorCode.INVALID_ARGUMENT, 'fromRevision must be at least 1');
    checkOptionsObject(options);
    const toOption = checkCount(options?.to, 'to');
    const limit = checkCount(options?.limit, 'limit');
    if (from < view.floor) fail(ErrorCode.COMPACTED, `revision ${from} is below the compaction floor ${view.floor}`);
    if (from > view.current + 1) fail(ErrorCode.FUTURE_REVISION, `revision ${from} is after the next revision ${view.current + 1}`);
    const to = toOption || view.current;
    if (to > view.current) fail(ErrorCode.FUTURE_REVISION, `to ${to} is after the current revision ${view.current}`);

    const wanted = this.versions.filter((v) => v.rev >= from && v.rev <= to);
    // Take whole revisions while they fit in `limit`; the first revision is always taken whole.
    let taken = 0;
    while (taken < wanted.length) {
      const rev = wanted[taken]!.rev;
      let end = taken;
      while (end < wanted.length && wanted[end]!.rev === rev) end++;
      if (limit > 0 && taken > 0 && end > limit) break;
      taken = end;
    }
    const events = wanted.slice(0, taken).map(toEvent);
    const last = wanted[taken - 1];
    return {
      events,
      more: taken < wanted.length,
      next: last === undefined ? from : last.rev + 1,
      revision: view.current,
    };
  }
}

/** The state of one txn while it runs. */
interface TxnRun {
  /** The store revision before the txn. */
  base: number;
  /** Next sub-revision. */
  sub: number;
  /** Every result object whose `revision` is set to the txn's final revision at the end. */
  stamps: Array<{ revision: number }>;
}

export class ModelStore implements KV {
  private readonly log = new VersionLog();
  private revision = 1;
  private compactRevision = 0;
  private closed = false;
  /** Granted lease ids: a put with another lease fails, as the native store's (no expiry here). */
  private readonly leaseIds = new Set<number>();

  /** @internal Throws AXIS_CLOSED once the store is closed. */
  ensureOpen(): void {
    if (this.closed) fail(ErrorCode.CLOSED, 'the store is closed');
  }

  private view(): View {
    return { current: this.revision, floor: this.compactRevision, latest: this.revision };
  }

  // ---- reads (synchronous) ----

  get(key: Bytes, options?: ReadOptions): KeyValue | undefined {
    this.ensureOpen();
    return this.log.get(this.view(), key, options);
  }

  range(start: Bytes, end?: Bytes | null, options?: RangeOptions): RangeResult {
    this.ensureOpen();
    return this.log.range(this.view(), start, end, options);
  }

  prefix(prefix: Bytes, options?: RangeOptions): RangeResult {
    this.ensureOpen();
    return this.log.prefix(this.view(), prefix, options);
  }

  history(key: Bytes, options?: HistoryOptions): Event[] {
    this.ensureOpen();
    return this.log.history(this.view(), key, options);
  }

  changes(fromRevision: number, options?: ChangesOptions): ChangesResult {
    this.ensureOpen();
    return this.log.changes(this.view(), fromRevision, options);
  }

  snapshot(): Snapshot {
    this.ensureOpen();
    return new ModelSnapshot(this.log, this.view(), this);
  }

  status(): StoreStatus {
    this.ensureOpen();
    return { revision: this.revision, compactRevision: this.compactRevision, dbSize: 0, dbSizeInUse: 0, compacting: false, journalReplayed: 0 };
  }

  // ---- writes (every one is a txn underneath) ----

  async put(key: Bytes, value: Bytes, options?: PutOptions): Promise<PutResult> {
    this.ensureOpen();
    const result = this.write({ success: [{ put: { ...options, key, value } }] });
    return (result.responses[0] as { put: PutResult }).put;
  }

  async delete(key: Bytes, options?: DeleteOptions): Promise<DeleteResult> {
    this.ensureOpen();
    const result = this.write({ success: [{ deleteRange: { key, prevKv: options?.prevKv } }] });
    return (result.responses[0] as { deleteRange: DeleteResult }).deleteRange;
  }

  async deleteRange(start: Bytes, end?: Bytes | null, options?: DeleteOptions): Promise<DeleteResult> {
    this.ensureOpen();
    const result = this.write({ success: [{ deleteRange: { key: start, rangeEnd: end ?? null, prevKv: options?.prevKv } }] });
    return (result.responses[0] as { deleteRange: DeleteResult }).deleteRange;
  }

  async txn(request: TxnRequest): Promise<TxnResult> {
    this.ensureOpen();
    return this.write(request);
  }

  async compact(revision: number, _options?: CompactOptions): Promise<{ revision: number }> {
    this.ensureOpen();
    const r = checkCount(revision, 'revision');
    if (r === 0) fail(ErrorCode.INVALID_ARGUMENT, 'compaction revision must be 1 or later');
    if (r > this.revision) fail(ErrorCode.FUTURE_REVISION, `revision ${r} is after the current revision ${this.revision}`);
    if (r <= this.compactRevision) fail(ErrorCode.COMPACTED, `revision ${r} is already compacted (floor ${this.compactRevision})`);
    this.compactRevision = r;
    return { revision: this.revision };
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Leases as far as puts see them: the id exists or not (makes no revision). */
  async leaseGrant(ttl: number, options?: { id?: number }): Promise<{ id: number; ttl: number }> {
    this.ensureOpen();
    const id = options?.id ?? this.leaseIds.size + 1;
    if (this.leaseIds.has(id)) fail(ErrorCode.LEASE_EXISTS, `lease ${id} already exists`);
    this.leaseIds.add(id);
    return { id, ttl };
  }

  // ---- the txn machinery ----

  /** Validates and runs a txn atomically: all of it, or (on any error) none of it. */
  private write(request: TxnRequest): TxnResult {
    checkTxn(request);
    const mark = this.log.versions.length;
    const run: TxnRun = { base: this.revision, sub: 0, stamps: [] };
    try {
      const result = this.runTxn(request, run);
      const changed = this.log.versions.length > mark;
      if (changed) this.revision++;
      for (const s of run.stamps) s.revision = this.revision;
      return result;
    } catch (err) {
      this.log.versions.length = mark;
      throw err;
    }
  }

  private runTxn(request: TxnRequest, run: TxnRun): TxnResult {
    // Compares see the txn's own earlier writes (a nested txn decides at its point in the txn).
    const succeeded = (request.compare ?? []).every((c) => this.compareHolds(c));
    const ops = (succeeded ? request.success : request.failure) ?? [];
    const responses = ops.map((op) => this.runOp(op, run));
    const result: TxnResult = { succeeded, revision: 0, responses };
    run.stamps.push(result);
    return result;
  }

  private compareHolds(c: Compare): boolean {
    const kvs = this.log.live(opSpan(c.key, c.rangeEnd), PENDING);
    if (kvs.length === 0) {
      // etcd: no key (or no key in the range): a value compare is false; the numbers compare as 0.
      return c.target === 'value' ? false : compareKV(c, undefined);
    }
    return kvs.every((v) => compareKV(c, v));
  }

  private append(run: TxnRun, v: Omit<Version, 'id' | 'rev' | 'sub'>): void {
    this.log.versions.push({ ...v, id: v.key.toString('latin1'), rev: run.base + 1, sub: run.sub++ });
  }

  private runOp(op: RequestOp, run: TxnRun): ResponseOp {
    if ('put' in op) {
      const p = op.put;
      const key = Buffer.from(toBuffer(p.key, 'key'));
      const prev = this.log.newest(key, PENDING);
      const live = prev?.type === 'put' ? prev : undefined;
      if ((p.ignoreValue || p.ignoreLease) && !live) {
        fail(ErrorCode.KEY_NOT_FOUND, 'ignoreValue/ignoreLease need the key to exist');
      }
      const lease = p.ignoreLease ? live!.lease : checkCount(p.lease, 'lease');
      if (!p.ignoreLease && lease !== 0 && !this.leaseIds.has(lease)) fail(ErrorCode.LEASE_NOT_FOUND, `lease ${lease} not found`);
      this.append(run, {
        key,
        type: 'put',
        value: p.ignoreValue ? live!.value : Buffer.from(toBuffer(p.value, 'value')),
        createRevision: live ? live.createRevision : run.base + 1,
        version: live ? live.version + 1 : 1,
        lease,
      });
      const result: PutResult = { revision: 0 };
      if (p.prevKv && live) result.prevKv = toKV(live);
      run.stamps.push(result);
      return { put: result };
    }
    if ('deleteRange' in op) {
      const d = op.deleteRange;
      const doomed = this.log.live(opSpan(d.key, d.rangeEnd), PENDING);
      for (const v of doomed) {
        this.append(run, { key: v.key, type: 'delete', value: Buffer.alloc(0), createRevision: 0, version: 0, lease: 0 });
      }
      const result: DeleteResult = { revision: 0, deleted: doomed.length, prevKvs: d.prevKv ? doomed.map((v) => toKV(v)) : [] };
      run.stamps.push(result);
      return { deleteRange: result };
    }
    if ('range' in op) {
      const r = op.range;
      // An explicit revision is checked against the store as it was before the txn;
      // without one, the range sees the txn's own writes so far.
      const view: View = { current: run.base, floor: this.compactRevision, latest: PENDING };
      const result = this.log.rangeSpan(view, opSpan(r.key, r.rangeEnd), r);
      run.stamps.push(result);
      return { range: result };
    }
    return { txn: this.runTxn(op.txn, run) };
  }
}

/** Whether one key (undefined: a missing key, all numbers 0) satisfies a compare. */
function compareKV(c: Compare, v: Version | undefined): boolean {
  let d: number;
  if (c.target === 'value') {
    d = Buffer.compare(v?.value ?? Buffer.alloc(0), toBuffer(c.value as Bytes, 'compare value'));
  } else {
    const actual = v === undefined ? 0 : c.target === 'modRevision' ? v.rev : v[c.target];
    d = Math.sign(actual - checkCount(c.value, 'compare value'));
  }
  switch (c.result) {
    case '=':
      return d === 0;
    case '!=':
      return d !== 0;
    case '<':
      return d < 0;
    case '>':
      return d > 0;
  }
}

/** A read view pinned at the revision (and compaction floor) the store had when it was taken. */
class ModelSnapshot implements Snapshot {
  readonly revision: number;
  private released = false;

  constructor(
    private readonly log: VersionLog,
    private readonly view: View,
    private readonly store: ModelStore,
  ) {
    this.revision = view.current;
  }

  release(): void {
    this.released = true;
  }

  private ensureUsable(): void {
    if (this.released) fail(ErrorCode.SNAPSHOT_RELEASED, 'the snapshot was released');
    this.store.ensureOpen();
  }

  get(key: Bytes, options?: ReadOptions): KeyValue | undefined {
    this.ensureUsable();
    return this.log.get(this.view, key, options);
  }

  range(start: Bytes, end?: Bytes | null, options?: RangeOptions): RangeResult {
    this.ensureUsable();
    return this.log.range(this.view, start, end, options);
  }

  prefix(prefix: Bytes, options?: RangeOptions): RangeResult {
    this.ensureUsable();
    return this.log.prefix(this.view, prefix, options);
  }

  history(key: Bytes, options?: HistoryOptions): Event[] {
    this.ensureUsable();
    return this.log.history(this.view, key, options);
  }

  changes(fromRevision: number, options?: ChangesOptions): ChangesResult {
    this.ensureUsable();
    return this.log.changes(this.view, fromRevision, options);
  }
}

export async function openModel(): Promise<ModelStore> {
  return new ModelStore();
}
