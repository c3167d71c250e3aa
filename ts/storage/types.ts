/** The embedded store's public types. The cluster client implements the same `KV` interface. */

/** Keys and values: bytes, or strings (UTF-8). */
export type Bytes = Uint8Array | string;

/** A value, or a promise of it: the embedded store answers reads synchronously, a remote client cannot. */
export type Awaitable<T> = T | Promise<T>;

export interface KeyValue {
  key: Buffer;
  /** Empty when the read asked for `keysOnly`. */
  value: Buffer;
  /** Revision of the put that created the key in its current lifetime. */
  createRevision: number;
  /** Revision of the last change to the key. */
  modRevision: number;
  /** Number of writes in the key's current lifetime (1 after the first put). */
  version: number;
  /** Lease attached to the key, 0 for none. */
  lease: number;
}

export interface PutOptions {
  lease?: number;
  /** Return the key-value as it was before the put. */
  prevKv?: boolean;
  /** Keep the current value (the key must exist; `value` must be empty). */
  ignoreValue?: boolean;
  /** Keep the current lease (the key must exist). */
  ignoreLease?: boolean;
}

export interface PutResult {
  revision: number;
  prevKv?: KeyValue;
}

export interface DeleteOptions {
  prevKv?: boolean;
}

export interface DeleteResult {
  revision: number;
  deleted: number;
  /** Filled when `prevKv` was asked for. */
  prevKvs: KeyValue[];
}

export type SortTarget = 'key' | 'version' | 'createRevision' | 'modRevision' | 'value';
export type SortOrder = 'ascend' | 'descend';

export interface ReadOptions {
  /** Read the store as of this revision; 0 or absent reads the latest. */
  revision?: number;
}

export interface RangeOptions extends ReadOptions {
  /** At most this many key-values (0: no limit). */
  limit?: number;
  keysOnly?: boolean;
  countOnly?: boolean;
  sort?: { target?: SortTarget; order?: SortOrder };
  /** Filters (0: no bound). As in etcd, `count` counts the keys in range before these filters. */
  minModRevision?: number;
  maxModRevision?: number;
  minCreateRevision?: number;
  maxCreateRevision?: number;
}

export interface RangeResult {
  kvs: KeyValue[];
  /** More key-values matched than `limit` let through. */
  more: boolean;
  /** Number of keys in the range at that revision. */
  count: number;
  /** The revision the range was read at's store revision (the latest, for a read of the latest). */
  revision: number;
}

export type EventType = 'put' | 'delete';

/** One change: a put, or a deletion (then `kv` has the key and `modRevision`, the rest zero). */
export interface Event {
  type: EventType;
  kv: KeyValue;
}

export interface HistoryOptions {
  /** Oldest revision to include; defaults to the compaction floor. */
  from?: number;
  /** Newest revision to include; defaults to the latest. */
  to?: number;
}

export interface ChangesOptions {
  /** Last revision to include; defaults to the latest. */
  to?: number;
  /** Stop after this many events, but never inside a revision (0: no limit). */
  limit?: number;
}

export interface ChangesResult {
  events: Event[];
  /** Events past `limit` remain; continue from `next`. */
  more: boolean;
  /** The revision to continue from. */
  next: number;
  revision: number;
}

export type CompareTarget = 'value' | 'version' | 'createRevision' | 'modRevision' | 'lease';
export type CompareResult = '=' | '!=' | '<' | '>';

export interface Compare {
  key: Bytes;
  /** Compare every key in [key, rangeEnd); absent compares the one key. */
  rangeEnd?: Bytes;
  target: CompareTarget;
  result: CompareResult;
  /** Bytes for 'value', an integer for the others. */
  value: Bytes | number;
}

export type RequestOp =
  | { put: { key: Bytes; value: Bytes } & PutOptions }
  | { deleteRange: { key: Bytes; rangeEnd?: Bytes | null } & DeleteOptions }
  | { range: { key: Bytes; rangeEnd?: Bytes | null } & RangeOptions }
  | { txn: TxnRequest };

export type ResponseOp =
  | { put: PutResult }
  | { deleteRange: DeleteResult }
  | { range: RangeResult }
  | { txn: TxnResult };

export interface TxnRequest {
  compare?: Compare[];
  success?: RequestOp[];
  failure?: RequestOp[];
}

export interface TxnResult {
  succeeded: boolean;
  /** The store revision after the transaction. */
  revision: number;
  responses: ResponseOp[];
}

export interface CompactOptions {
  /** Resolve only once the old versions are physically removed. */
  physical?: boolean;
}

export interface StoreStatus {
  revision: number;
  compactRevision: number;
  /** Bytes of the data file LMDB has used (its high-water mark). */
  dbSize: number;
  /** Bytes of it in use (the rest is free pages waiting for reuse). */
  dbSizeInUse: number;
  /** Whether background compaction still has old versions to remove. */
  compacting: boolean;
  /**
   * Durability 'raft': how many Raft journal records the open replayed, because the store had
   * rolled back to its last flushed commit (after a crash). 0 otherwise.
   */
  journalReplayed: number;
}

/** The read side, shared by the store and its snapshots. */
export interface KVRead {
  get(key: Bytes, options?: ReadOptions): Awaitable<KeyValue | undefined>;
  /** Keys in [start, end); `end` null or absent: every key from `start` on. */
  range(start: Bytes, end?: Bytes | null, options?: RangeOptions): Awaitable<RangeResult>;
  /** Every key that starts with `prefix` (an empty prefix: every key). */
  prefix(prefix: Bytes, options?: RangeOptions): Awaitable<RangeResult>;
  history(key: Bytes, options?: HistoryOptions): Awaitable<Event[]>;
  /** The change log from `fromRevision` on, in revision order. */
  changes(fromRevision: number, options?: ChangesOptions): Awaitable<ChangesResult>;
}

/** One interface, implemented by the embedded store and (later) the cluster client. */
export interface KV extends KVRead {
  put(key: Bytes, value: Bytes, options?: PutOptions): Promise<PutResult>;
  delete(key: Bytes, options?: DeleteOptions): Promise<DeleteResult>;
  deleteRange(start: Bytes, end?: Bytes | null, options?: DeleteOptions): Promise<DeleteResult>;
  txn(request: TxnRequest): Promise<TxnResult>;
  compact(revision: number, options?: CompactOptions): Promise<{ revision: number }>;
  close(): Promise<void>;
}

/** A pinned read view: answers never change while it is held. */
export interface Snapshot extends KVRead {
  readonly revision: number;
  release(): void;
}

export type Durability = 'sync' | 'nosync' | 'raft';

export interface OpenOptions {
  /**
   * 'sync' (default): a write's promise resolves once it is on disk. 'nosync': survives a process
   * crash, not an OS crash. 'raft', for a Raft member's store: Raft log appends (`raftLog().persist`)
   * resolve once durable, through a one-fdatasync journal record; applied entries (`apply`) resolve
   * once visible, before they are flushed: a crash rolls the store back to its last flushed commit,
   * the journal puts back the appends it lacked, and Raft applies the entries again from the log.
   * A log compaction (`raftLog().compact`) rolled back is lost: the log keeps those entries longer.
   * Other writes behave as 'sync'.
   */
  durability?: Durability;
  /** Largest the data may grow to, bytes (default 2 GiB, etcd's default quota); past it writes fail with AXIS_NO_SPACE. */
  mapSize?: number;
  /** Most read views (snapshots) held at once (default 1024). */
  maxSnapshots?: number;
  /**
   * Microseconds the writer thread stays awake after a commit for the next write before it sleeps
   * (default 200): lower latency for one writer awaiting each write, at the cost of CPU. A cluster
   * member, which shares the machine with its peers, sets 0.
   */
  writerSpinMicros?: number;
  /**
   * Whether this process expires the store's leases and checkpoints their remaining TTLs
   * (default true). A cluster member's store sets false: there the leader decides expiry and
   * replicates revokes and checkpoints through Raft (`apply`).
   */
  lessor?: boolean;
  /** How often expired leases are looked for, ms (default 500, as etcd). */
  leaseExpiryIntervalMs?: number;
  /** How often remaining TTLs of leases longer than this are persisted, ms (default 300000, etcd's 5 min). */
  leaseCheckpointIntervalMs?: number;
  /** Most expired leases revoked per second (default 1000, as etcd). */
  leaseRevokeRate?: number;
  /** The lessor's clock, ms (default performance.now). For tests. */
  leaseClock?: () => number;
}

/** The file in a store's directory that holds its Raft journal record (durability 'raft'). */
export const JOURNAL_FILE = 'raft.wal';

/** Limits (etcd's defaults where etcd has one). */
export const Limits = {
  maxKeyBytes: 1024,
  maxValueBytes: 1.5 * 1024 * 1024,
  maxTxnOps: 128,
  /** etcd's largest lease TTL, seconds. */
  maxLeaseTtl: 9_000_000_000,
} as const;

/** A lease's remaining TTL to persist (`leaseCheckpoint` write requests). */
export interface LeaseCheckpoint {
  id: number;
  /** Milliseconds left; 0 clears the checkpoint (the full TTL counts again). */
  remainingMs: number;
}

export interface LeaseGrantOptions {
  /** The lease's id (a positive safe integer); a random one when absent. */
  id?: number;
}

export interface LeaseGrantResult {
  id: number;
  /** Granted TTL, seconds. */
  ttl: number;
}

export interface LeaseTimeToLiveOptions {
  /** Also list the keys attached to the lease. */
  keys?: boolean;
}

export interface LeaseTimeToLive {
  id: number;
  /** Granted TTL, seconds. */
  ttl: number;
  /** Seconds left before it expires (whole seconds, rounded down, as etcd's). */
  remaining: number;
  /** The attached keys, in key order, when asked for. */
  keys?: Buffer[];
}
