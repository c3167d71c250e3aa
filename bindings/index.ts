/** Loads the native addon (built by node-gyp into build/Release) and gives it types. */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { AxisError } from '../ts/errors/index.js';

export interface NativeView {
  /** Key in the shared key buffer. -1: absent; a number: bytes of the kv in the out buffer; a Buffer: a kv too large for it. */
  get(keyLen: number, revision: number): number | Buffer;
  /** Packed range request → u64 view revision | packed range result. */
  range(request: Buffer): Buffer;
  history(keyLen: number, from: number, to: number): Buffer;
  /** u64 view revision | packed changes. */
  changes(from: number, to: number, limit: number): Buffer;
}

export interface NativeSnapshot extends NativeView {
  readonly revision: number;
  readonly compactRevision: number;
  release(): void;
}

export interface NativeStatus {
  revision: number;
  compactRevision: number;
  dbSize: number;
  dbSizeInUse: number;
  compacting: boolean;
  journalReplayed: number;
}

export interface NativeStore extends NativeView {
  open(): Promise<void>;
  /** The Raft log's state: u64 term, vote, commit, snapIndex, snapTerm | bytes confState | u64 firstIndex, lastIndex. */
  raftState(): Buffer;
  /** Term of raft entry i; -1: compacted, -2: unavailable. */
  raftTerm(i: number): number;
  /** Raft entries [lo, hi) within maxBytes (at least one): u32 n | (u64 index, u64 term, u8 type, bytes data)*; -1 / -2 as raftTerm. */
  raftEntries(lo: number, hi: number, maxBytes: number): Buffer | number;
  /** The state machine's applied entry (read on the latest view): u64 index | u64 term | u8 hasConf | [bytes confState]. */
  applied(): Buffer;
  /** Every lease, in id order (latest view): u32 n | (u64 id | u64 ttlSeconds | u64 remainingMs)*; remainingMs 0: no checkpoint. */
  leases(): Buffer;
  /**
   * One lease (latest view): null if there is none, else u64 ttlSeconds | u64 remainingMs | u64 keyCount
   * | u32 n | (u32 len | key)*, with at most `keyLimit` keys in key order (0: none, -1: all).
   */
  lease(id: number, keyLimit: number): Buffer | null;
  /** A batch of packed write requests → their packed results, once committed. */
  write(batch: Buffer): Promise<Buffer>;
  waitCompaction(floor: number): Promise<void>;
  snapshot(): NativeSnapshot;
  status(): NativeStatus;
  /** The latest revision (cheap: status() also walks LMDB's free list). */
  revision(): number;
  close(): Promise<void>;
  /** A consistent copy of the environment (data.mdb) into the existing empty directory `dir`; writes go on meanwhile. One at a time. */
  copy(dir: string): Promise<void>;
  /** The key space's hash at `revision` (0: now), on a pool thread (see native/hash.h). */
  hashKv(revision: number): Promise<{ hash: string; revision: number; compactRevision: number; versions: number }>;
  /** The active alarms: u32 n | (u8 type | u64 member)*. */
  alarms(): Buffer;
}

interface Addon {
  NativeStore: new (
    dir: string,
    mapSize: number,
    maxSnapshots: number,
    /** 0 sync, 1 nosync, 2 raft (native/writer.h). */
    durability: 0 | 1 | 2,
    keyBuffer: Buffer,
    outBuffer: Buffer,
    spinMicros?: number,
  ) => NativeStore;
  setErrorClass(cls: new (code: string, message: string) => Error): void;
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);

function load(): Addon {
  const file = process.env.AXIS_ADDON ?? path.join(root, 'build', 'Release', 'axis.node');
  const addon = require(file) as Addon;
  addon.setErrorClass(AxisError as unknown as new (code: string, message: string) => Error);
  return addon;
}

export const addon: Addon = load();
