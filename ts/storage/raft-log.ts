/**
 * The durable Raft log, kept in the store's LMDB environment (native/raftlog.h): appends, hard
 * state and snapshot metadata go through the store's write batching, so a Ready's persist shares
 * the group commit (one durable commit) with client writes queued in the same turn; reads are
 * synchronous, on the store's latest view.
 *
 * Storage sits below Raft: the types here are the minimal structural shapes it needs; ts/raft's
 * Entry and HardState fit them. The membership (ConfState) is opaque bytes to this layer.
 */
import type { NativeStore } from '../../bindings/index.js';
import { AxisError, ErrorCode } from '../errors/index.js';
import { Decoder, type Encoder, RequestKind } from './codec.js';
import { checkBytes as bytes, checkInteger as index } from './validate.js';

export interface RaftLogEntry {
  index: number;
  term: number;
  /** 0..255 */
  type: number;
  data: Uint8Array;
}

export interface RaftLogHardState {
  term: number;
  vote: number;
  commit: number;
}

export interface RaftLogSnapshotMeta {
  index: number;
  term: number;
  /** Opaque to storage (the raft layer encodes its ConfState). */
  confState: Uint8Array;
}

export interface RaftLogState {
  hardState: RaftLogHardState;
  snapshot: RaftLogSnapshotMeta;
  /** snapshot.index + 1 */
  firstIndex: number;
  /** The last entry's index, or snapshot.index when there is none. */
  lastIndex: number;
}

export interface RaftPersist {
  hardState?: RaftLogHardState;
  /** Replaces the whole log when newer than the stored snapshot (ignored otherwise). */
  snapshot?: RaftLogSnapshotMeta;
  /** Consecutive indices; replace any stored suffix from the first one on. */
  entries?: readonly RaftLogEntry[];
  /**
   * Nothing here needs to be durable now (only the commit index moved, say): the commit may use
   * one fdatasync instead of two, and an OS crash may undo it (whole, never torn). The promise
   * still resolves after the commit. Ignored when other writes in the same group need durability.
   */
  lazy?: boolean;
}

/** raftTerm/raftEntries answers for an index below the snapshot / past the last entry. */
export const RAFT_COMPACTED = -1;
export const RAFT_UNAVAILABLE = -2;

const HAS_HARD_STATE = 1;
const HAS_SNAPSHOT = 2;
const HAS_ENTRIES = 4;
const LAZY = 8;

type Submit = <T>(encode: (e: Encoder) => void, decode: (d: Decoder) => T) => Promise<T>;

/** Caps a JS bound for the native side (which reads u64s; Infinity would read as 0). */
const cap = (n: number): number => (n >= Number.MAX_SAFE_INTEGER ? Number.MAX_SAFE_INTEGER : n);

/** Handed out by `Store.raftLog()`. */
export class RaftLog {
  /** Use `store.raftLog()`. */
  constructor(
    private readonly native: NativeStore,
    private readonly submit: Submit,
    private readonly check: () => void,
  ) {}

  /** Durably stores a Ready's snapshot, entries and hard state, all or nothing, in one commit. */
  persist(p: RaftPersist): Promise<void> {
    try {
      this.check();
      const hs = p.hardState;
      const snap = p.snapshot;
      const ents = p.entries ?? [];
      if (hs) for (const k of ['term', 'vote', 'commit'] as const) index(hs[k], `hardState.${k}`);
      if (snap) {
        index(snap.index, 'snapshot.index');
        index(snap.term, 'snapshot.term');
        bytes(snap.confState, 'snapshot.confState');
      }
      for (let i = 0; i < ents.length; i++) {
        const e = ents[i]!;
        index(e.index, 'entry index');
        index(e.term, 'entry term');
        if (!Number.isInteger(e.type) || e.type < 0 || e.type > 255) {
          throw new AxisError(ErrorCode.INVALID_ARGUMENT, `entry type must be 0..255, got ${String(e.type)}`);
        }
        bytes(e.data, 'entry data');
        if (i > 0 && e.index !== ents[i - 1]!.index + 1) {
          throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'raft entries must have consecutive indices');
        }
      }
      if (!hs && !snap && ents.length === 0) return Promise.resolve();
      return this.submit(
        (e) => {
          e.u8(RequestKind.RaftAppend);
          e.u8((hs ? HAS_HARD_STATE : 0) | (snap ? HAS_SNAPSHOT : 0) | (ents.length > 0 ? HAS_ENTRIES : 0) | (p.lazy ? LAZY : 0));
          if (hs) {
            e.u64(hs.term);
            e.u64(hs.vote);
            e.u64(hs.commit);
          }
          if (snap) {
            e.u64(snap.index);
            e.u64(snap.term);
            e.bytes(snap.confState);
          }
          if (ents.length > 0) {
            e.u32(ents.length);
            for (const en of ents) {
              e.u64(en.index);
              e.u64(en.term);
              e.u8(en.type);
              e.bytes(en.data);
            }
          }
        },
        (d) => {
          d.u64();
        },
      );
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Records a snapshot (if newer than the stored one; its index must not be past the last entry)
   * and drops the entries below `compactTo` (at most snapshot.index + 1).
   */
  compact(snapshot: RaftLogSnapshotMeta, compactTo: number): Promise<void> {
    try {
      this.check();
      index(snapshot.index, 'snapshot.index');
      index(snapshot.term, 'snapshot.term');
      bytes(snapshot.confState, 'snapshot.confState');
      index(compactTo, 'compactTo');
      return this.submit(
        (e) => {
          e.u8(RequestKind.RaftCompact);
          e.u64(snapshot.index);
          e.u64(snapshot.term);
          e.bytes(snapshot.confState);
          e.u64(compactTo);
        },
        (d) => {
          d.u64();
        },
      );
    } catch (err) {
      return Promise.reject(err);
    }
  }

  state(): RaftLogState {
    this.check();
    const d = new Decoder(this.native.raftState());
    const hardState = { term: d.u64(), vote: d.u64(), commit: d.u64() };
    const snapIndex = d.u64();
    const snapTerm = d.u64();
    const confState = Uint8Array.from(d.bytes(d.u32()));
    return { hardState, snapshot: { index: snapIndex, term: snapTerm, confState }, firstIndex: d.u64(), lastIndex: d.u64() };
  }

  /** Term of entry i (the snapshot's index answers the snapshot's term), or RAFT_COMPACTED / RAFT_UNAVAILABLE. */
  term(i: number): number {
    this.check();
    return this.native.raftTerm(cap(index(i, 'index')));
  }

  /** Entries [lo, hi) with at most maxBytes of data (at least one), or RAFT_COMPACTED / RAFT_UNAVAILABLE. */
  entries(lo: number, hi: number, maxBytes: number): RaftLogEntry[] | typeof RAFT_COMPACTED | typeof RAFT_UNAVAILABLE {
    this.check();
    const r = this.native.raftEntries(cap(index(lo, 'lo')), cap(index(hi, 'hi')), cap(Math.max(0, Math.floor(maxBytes))));
    if (typeof r === 'number') return r === RAFT_COMPACTED ? RAFT_COMPACTED : RAFT_UNAVAILABLE;
    const d = new Decoder(r);
    const n = d.u32();
    const out: RaftLogEntry[] = new Array<RaftLogEntry>(n);
    for (let i = 0; i < n; i++) {
      const idx = d.u64();
      const term = d.u64();
      const type = d.u8();
      out[i] = { index: idx, term, type, data: d.bytes(d.u32()) };
    }
    return out;
  }
}
