/** The embedded store: a multi-version KV over the native addon. Reads are synchronous; writes are batched per turn. */
import fs from 'node:fs/promises';
import { addon, type NativeSnapshot, type NativeStore, type NativeView } from '../../bindings/index.js';
import { AxisError, ErrorCode } from '../errors/index.js';
import { Decoder, Encoder, SharedKv, decodeChanges, decodeRange, encodeRange, encodeRangeOptions } from './codec.js';
import {
  Limits, type Bytes, type ChangesOptions, type ChangesResult, type CompactOptions, type DeleteOptions,
  type DeleteResult, type Event, type HistoryOptions, type KV, type KVRead, type KeyValue, type LeaseGrantOptions,
  type LeaseGrantResult, type LeaseTimeToLive, type LeaseTimeToLiveOptions, type OpenOptions,
  type PutOptions, type PutResult, type RangeOptions, type RangeResult, type ReadOptions, type Snapshot,
  type StoreStatus, type TxnRequest, type TxnResult, type Durability,
} from './types.js';
import { RaftLog } from './raft-log.js';
import { Watch, WatchHub, type WatchOptions } from './watch.js';
import { Lessor, type LessorOptions, type StoredLease, decodeLease, decodeLeases, lessorOptions, randomLeaseId } from './lessor.js';
import { type AppliedState, type ApplyEntry, type ApplyOptions, checkApply, decodeApplied, decodeApplyResult, encodeApply } from './state-machine.js';
import { checkCount, checkKey, checkRange, checkRangeOptions, prefixEnd, toBuffer } from './validate.js';
import {
  type Alarm, decodeAlarms, type LeaseRevokeResult, type PreparedWrite, prepareCompact, prepareDelete, prepareLeaseGrant, prepareLeaseRenew,
  prepareLeaseRevoke, preparePut, prepareTxn,
} from './write-request.js';
import { checkLeaseId, checkLeaseTtl } from './validate.js';

const GiB = 1024 * 1024 * 1024;
/** Data directories open in this process: LMDB must never open one environment twice. */
const openDirs = new Set<string>();

function closedError(): AxisError {
  return new AxisError(ErrorCode.CLOSED, 'the store is closed');
}

/** Reads against one native view (the store's latest, or a snapshot's pinned one). */
class ViewReader implements KVRead {
  private readonly shared: SharedKv;

  constructor(
    protected readonly view: NativeView,
    private readonly keyBuf: Buffer,
    outBuf: Buffer,
    private readonly rangeEnc: Encoder,
  ) {
    this.shared = new SharedKv(outBuf);
  }

  protected check(): void {}

  /** Writes the key into the shared key buffer; strings short enough skip an allocation. */
  private putKey(key: Bytes): number {
    if (typeof key === 'string') {
      if (key.length > 0 && key.length * 3 <= Limits.maxKeyBytes) return this.keyBuf.write(key, 0, 'utf8');
    } else if (key instanceof Uint8Array && key.length > 0 && key.length <= Limits.maxKeyBytes) {
      this.keyBuf.set(key);
      return key.length;
    }
    const k = checkKey(key);
    k.copy(this.keyBuf);
    return k.length;
  }

  get(key: Bytes, options?: ReadOptions): KeyValue | undefined {
    this.check();
    const revision = options === undefined || options.revision === undefined ? 0 : checkCount(options.revision, 'revision');
    const r = this.view.get(this.putKey(key), revision);
    if (typeof r === 'number') return r < 0 ? undefined : this.shared.read();
    return new Decoder(r).kv();
  }

  range(start: Bytes, end?: Bytes | null, options?: RangeOptions): RangeResult {
    this.check();
    const [s, e] = checkRange(start, end);
    return this.scan(s, e, options);
  }

  prefix(prefix: Bytes, options?: RangeOptions): RangeResult {
    this.check();
    const p = toBuffer(prefix, 'prefix');
    if (p.length > Limits.maxKeyBytes) checkKey(p, 'prefix');
    return this.scan(p, prefixEnd(p), options);
  }

  private scan(start: Buffer, end: Buffer | null, options: RangeOptions | undefined): RangeResult {
    checkRangeOptions(options);
    const enc = this.rangeEnc;
    encodeRange(enc, start, end);
    encodeRangeOptions(enc, options);
    const d = new Decoder(this.view.range(enc.take()));
    return decodeRange(d, options, d.u64());
  }

  history(key: Bytes, options?: HistoryOptions): Event[] {
    this.check();
    const from = checkCount(options?.from, 'from');
    const to = checkCount(options?.to, 'to');
    const d = new Decoder(this.view.history(this.putKey(key), from, to));
    return d.events(d.u32());
  }

  changes(fromRevision: number, options?: ChangesOptions): ChangesResult {
    this.check();
    const from = checkCount(fromRevision, 'fromRevision');
    if (from === 0) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'changes start at revision 1 or later');
    const to = checkCount(options?.to, 'to');
    const limit = checkCount(options?.limit, 'limit');
    const d = new Decoder(this.view.changes(from, to, limit));
    return decodeChanges(d, d.u64());
  }
}

class StoreSnapshot extends ViewReader implements Snapshot {
  readonly revision: number;
  private released = false;

  constructor(
    private readonly native: NativeSnapshot,
    private readonly storeClosed: () => boolean,
    keyBuf: Buffer,
    outBuf: Buffer,
    enc: Encoder,
  ) {
    super(native, keyBuf, outBuf, enc);
    this.revision = native.revision;
  }

  protected override check(): void {
    if (this.storeClosed()) throw closedError();
    if (this.released) throw new AxisError(ErrorCode.SNAPSHOT_RELEASED, 'the snapshot was released');
  }

  release(): void {
    this.released = true;
    this.native.release();
  }
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: unknown): void;
  decode(d: Decoder): unknown;
}

export class Store extends ViewReader implements KV {
  private closed = false;
  private readonly batch = new Encoder(64 * 1024);
  private pending: Pending[] = [];
  private flushQueued = false;
  private hub: WatchHub | undefined;
  private raft: RaftLog | undefined;
  private lessor: Lessor | undefined;
  private copying: Promise<void> | undefined;
  private readonly hashing = new Set<Promise<unknown>>();

  /** Use `open()`. */
  constructor(
    private readonly native: NativeStore,
    readonly path: string,
    private readonly keyBuffer: Buffer,
    private readonly outBuffer: Buffer,
  ) {
    super(native, keyBuffer, outBuffer, new Encoder(4096));
  }

  protected override check(): void {
    if (this.closed) throw closedError();
  }

  put(key: Bytes, value: Bytes, options?: PutOptions): Promise<PutResult> {
    return this.write(() => preparePut(key, value, options));
  }

  delete(key: Bytes, options?: DeleteOptions): Promise<DeleteResult> {
    return this.write(() => prepareDelete(key, undefined, options, false));
  }

  deleteRange(start: Bytes, end?: Bytes | null, options?: DeleteOptions): Promise<DeleteResult> {
    return this.write(() => prepareDelete(start, end, options, true));
  }

  txn(request: TxnRequest): Promise<TxnResult> {
    return this.write(() => prepareTxn(request));
  }

  async compact(revision: number, options?: CompactOptions): Promise<{ revision: number }> {
    this.check();
    const w = prepareCompact(revision);
    const r = await this.submit(w.encode, w.decode);
    if (options?.physical) await this.native.waitCompaction(revision);
    return r;
  }

  /** Checks the store is open, validates (throwing nothing: a rejected promise), then queues the write. */
  private write<T>(prepare: () => PreparedWrite<T>): Promise<T> {
    try {
      this.check();
      const w = prepare();
      return this.submit(w.encode, w.decode);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Resolves once background compaction has physically removed the versions below `revision`
   * (a compaction to at least `revision` must have been applied, or it waits until the store closes).
   */
  waitCompaction(revision: number): Promise<void> {
    try {
      this.check();
      return this.native.waitCompaction(checkCount(revision, 'revision'));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Applies committed Raft entries (see state-machine.ts), all in one write batch: each entry's
   * data change, applied index/term, membership and dedup record commit together. Entries must
   * have consecutive indices, the first one after `applied().index` (any index on a store that
   * never applied one). Resolves with each entry's result bytes (`decodeWriteResult` reads them;
   * an entry without a request gives `u8 0 | u64 revision`). An entry whose request fails on its
   * own (e.g. AXIS_KEY_NOT_FOUND) is applied all the same, with that error as its result.
   *
   * Rejects if an entry could not be applied (no space, a storage fault, out of order): nothing
   * from that entry on is applied; the entries before it may be (`applied()` tells).
   */
  apply(entries: readonly ApplyEntry[], options?: ApplyOptions): Promise<Buffer[]> {
    try {
      this.check();
      const horizon = checkApply(entries, options);
      return Promise.all(entries.map((en) => this.submit((e) => encodeApply(e, en, horizon), decodeApplyResult)));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The last applied Raft entry and membership; reflects every apply whose promise has resolved. */
  applied(): AppliedState {
    this.check();
    return decodeApplied(this.native.applied());
  }

  /** The durable Raft log kept with this store (see raft-log.ts). */
  raftLog(): RaftLog {
    this.check();
    this.raft ??= new RaftLog(this.native, (encode, decode) => this.submit(encode, decode), () => this.check());
    return this.raft;
  }

  /** Starts the embedded lessor (`open` does, unless `lessor: false`). */
  startLessor(options: LessorOptions): void {
    this.check();
    if (this.lessor) return;
    this.lessor = new Lessor(() => this.storedLeases(), (w) => this.submit(w.encode, w.decode), options);
    this.lessor.lead();
  }

  /**
   * Grants a lease of `ttl` seconds (1 to 9,000,000,000) with `options.id`, or a random positive
   * 52-bit id. AXIS_LEASE_EXISTS if the id given is taken. Makes no revision.
   */
  async leaseGrant(ttl: number, options?: LeaseGrantOptions): Promise<LeaseGrantResult> {
    this.check();
    const t = checkLeaseTtl(ttl);
    if (options !== undefined && (typeof options !== 'object' || options === null)) {
      throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'options must be an object');
    }
    const chosen = options?.id === undefined ? undefined : checkLeaseId(options.id);
    for (;;) {
      const id = chosen ?? randomLeaseId();
      try {
        await this.submitPrepared(prepareLeaseGrant(id, t));
      } catch (err) {
        if (chosen === undefined && err instanceof AxisError && err.code === ErrorCode.LEASE_EXISTS) continue;
        throw err;
      }
      this.lessor?.applied({ started: { id, ttl: t, renewals: 0 } });
      return { id, ttl: t };
    }
  }

  /** Revokes a lease: its keys are deleted in one revision (none if it has no keys). AXIS_LEASE_NOT_FOUND if there is no such lease. */
  async leaseRevoke(id: number): Promise<LeaseRevokeResult> {
    this.check();
    const r = await this.submitPrepared(prepareLeaseRevoke(checkLeaseId(id)));
    this.lessor?.applied({ revoked: { id } });
    return r;
  }

  /**
   * Renews a lease once: its full TTL counts again from now (and its persisted checkpoint is
   * cleared). AXIS_LEASE_NOT_FOUND if there is no such lease, or it has expired.
   */
  async leaseKeepAlive(id: number): Promise<LeaseGrantResult> {
    this.check();
    const i = checkLeaseId(id);
    if (this.lessor?.expired(i)) throw new AxisError(ErrorCode.LEASE_NOT_FOUND, `lease ${i} has expired`);
    // An expiry already on its way to the writer loses to this renew (LEASE_EXPIRE counts renewals).
    try {
      const r = await this.submitPrepared(prepareLeaseRenew(i));
      this.lessor?.applied({ started: { id: i, ttl: r.ttl, renewals: r.renewals } });
      return { id: i, ttl: r.ttl };
    } catch (err) {
      if (err instanceof AxisError && err.code === ErrorCode.LEASE_NOT_FOUND) this.lessor?.applied({ revoked: { id: i } });
      throw err;
    }
  }

  /**
   * A lease's granted TTL, the seconds it has left (rounded down) and, with `keys`, its attached
   * keys. AXIS_LEASE_NOT_FOUND if there is no such lease.
   */
  leaseTimeToLive(id: number, options?: LeaseTimeToLiveOptions): LeaseTimeToLive {
    this.check();
    const i = checkLeaseId(id);
    const buf = this.native.lease(i, options?.keys ? -1 : 0);
    if (buf === null) throw new AxisError(ErrorCode.LEASE_NOT_FOUND, `lease ${i} not found`);
    const l = decodeLease(buf);
    const leftMs = this.lessor?.remainingMs(i) ?? (l.remainingMs > 0 ? l.remainingMs : l.ttl * 1000);
    const out: LeaseTimeToLive = { id: i, ttl: l.ttl, remaining: Math.max(0, Math.floor(leftMs / 1000)) };
    if (options?.keys) out.keys = l.keys;
    return out;
  }

  /** Every stored lease with its granted TTL and checkpointed remaining TTL (ms, 0: none): what a lessor starts from. */
  storedLeases(): StoredLease[] {
    this.check();
    return decodeLeases(this.native.leases());
  }

  /** Every lease's id, in id order. */
  leases(): { id: number }[] {
    this.check();
    return decodeLeases(this.native.leases()).map((l) => ({ id: l.id }));
  }

  private submitPrepared<T>(w: PreparedWrite<T>): Promise<T> {
    return this.submit(w.encode, w.decode);
  }

  snapshot(): Snapshot {
    this.check();
    return new StoreSnapshot(this.native.snapshot(), () => this.closed, this.keyBuffer, this.outBuffer, new Encoder(256));
  }

  status(): StoreStatus {
    this.check();
    return this.native.status();
  }

  /** The latest revision: `status().revision`, without the rest of status()'s work. */
  revision(): number {
    this.check();
    return this.native.revision();
  }

  /**
   * Watches a key (or `{end}` range, or `{prefix: true}`) from `startRevision` (or from now): an
   * async iterable of responses carrying whole revisions of events in order (see watch.ts).
   */
  watch(key: Bytes, options?: WatchOptions): Watch {
    return new Watch(this.watches(), key, options);
  }

  /** The store's watch hub (told of every commit), for callers that route responses themselves (a server). */
  watches(): WatchHub {
    this.check();
    this.hub ??= new WatchHub({
      revision: () => this.revision(),
      compactRevision: () => this.status().compactRevision,
      changes: (from, o) => this.changes(from, o),
      get: (k, o) => this.get(k, o),
    });
    return this.hub;
  }

  /**
   * Copies the whole store (data.mdb, raft log included) into the existing empty directory `dir`:
   * a consistent copy of one moment, taken from a read view on a pool thread, so writes go on.
   * One copy at a time (AXIS_STORAGE while one runs); close() waits for it.
   */
  copyTo(dir: string): Promise<void> {
    try {
      this.check();
      if (typeof dir !== 'string' || dir.length === 0) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'copyTo needs a directory');
      if (this.copying) throw new AxisError(ErrorCode.STORAGE, 'a copy of this store is being made');
    } catch (err) {
      return Promise.reject(err);
    }
    const p = this.native.copy(dir).finally(() => {
      this.copying = undefined;
    });
    this.copying = p;
    return p;
  }

  /**
   * A hash of the key space as reads from the compaction floor up to `revision` (default: now) see
   * it, computed on a pool thread: equal stores at the same floor hash alike, whatever their
   * background compaction's progress (see native/hash.h).
   */
  hashKv(revision = 0): Promise<{ hash: string; revision: number; compactRevision: number; versions: number }> {
    try {
      this.check();
      const p = this.native.hashKv(checkCount(revision, 'revision'));
      this.hashing.add(p);
      void p.finally(() => this.hashing.delete(p)).catch(() => {});
      return p;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The active alarms (a cluster's: see `alarm` writes). */
  alarms(): Alarm[] {
    this.check();
    return decodeAlarms(this.native.alarms());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.hub?.close();
    this.lessor?.close();
    await this.copying?.catch(() => {});
    await Promise.allSettled([...this.hashing]);
    if (this.pending.length > 0) this.flush();
    try {
      await this.native.close();
    } finally {
      openDirs.delete(this.path);
    }
  }

  /** Queues one write request; every request queued in this turn goes down in one batch. */
  private submit<T>(encode: (e: Encoder) => void, decode: (d: Decoder) => T): Promise<T> {
    const at = this.batch.begin();
    encode(this.batch);
    this.batch.end(at);
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ resolve: resolve as (v: unknown) => void, reject, decode });
      if (!this.flushQueued) {
        this.flushQueued = true;
        queueMicrotask(this.flush);
      }
    });
  }

  private readonly flush = (): void => {
    this.flushQueued = false;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.native.write(this.batch.take()).then(
      (results) => {
        this.hub?.notify(); // watchers read what this commit changed
        const d = new Decoder(results);
        for (const p of batch) {
          try {
            d.status();
            p.resolve(p.decode(d));
          } catch (err) {
            p.reject(err);
          }
        }
      },
      (err) => {
        for (const p of batch) p.reject(err);
      },
    );
  };
}

const DURABILITY_MODES: Record<Durability, 0 | 1 | 2> = { sync: 0, nosync: 1, raft: 2 };

/** Opens (creating if needed) the store in directory `dir`. */
export async function open(dir: string, options: OpenOptions = {}): Promise<Store> {
  if (typeof dir !== 'string' || dir.length === 0) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'open needs a directory path');
  if (typeof options !== 'object' || options === null) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'options must be an object');
  const durability = options.durability ?? 'sync';
  if (typeof durability !== 'string' || !Object.hasOwn(DURABILITY_MODES, durability)) {
    throw new AxisError(ErrorCode.INVALID_ARGUMENT, `durability must be 'sync', 'nosync' or 'raft'`);
  }
  const mode = DURABILITY_MODES[durability];
  const mapSize = options.mapSize === undefined ? 2 * GiB : checkCount(options.mapSize, 'mapSize');
  const maxSnapshots = options.maxSnapshots === undefined ? 1024 : checkCount(options.maxSnapshots, 'maxSnapshots');
  const spin = options.writerSpinMicros === undefined ? 200 : checkCount(options.writerSpinMicros, 'writerSpinMicros');
  if (spin > 100_000) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'writerSpinMicros must be at most 100000');
  if (options.lessor !== undefined && typeof options.lessor !== 'boolean') {
    throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'lessor must be a boolean');
  }
  const lessor = options.lessor === false ? undefined : lessorOptions(options);
  let real: string;
  try {
    await fs.mkdir(dir, { recursive: true });
    real = await fs.realpath(dir);
    if (!(await fs.stat(real)).isDirectory()) throw new Error('not a directory');
  } catch (err) {
    throw new AxisError(ErrorCode.STORAGE, `cannot use ${dir} as a data directory: ${(err as Error).message}`);
  }
  if (openDirs.has(real)) throw new AxisError(ErrorCode.ALREADY_OPEN, `${real} is already open in this process`);
  openDirs.add(real);
  try {
    const keyBuf = Buffer.allocUnsafeSlow(Limits.maxKeyBytes);
    const outBuf = Buffer.allocUnsafeSlow(64 * 1024);
    const native = new addon.NativeStore(real, mapSize, maxSnapshots, mode, keyBuf, outBuf, spin);
    await native.open();
    const store = new Store(native, real, keyBuf, outBuf);
    if (lessor) {
      try {
        store.startLessor(lessor);
      } catch (err) {
        await store.close();
        throw err;
      }
    }
    return store;
  } catch (err) {
    openDirs.delete(real);
    throw err;
  }
}
