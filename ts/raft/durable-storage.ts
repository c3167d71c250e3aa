/**
 * The Raft log on disk: LogStorage over the store's durable raft log (ts/storage/raft-log.ts),
 * with MemoryStorage's semantics. Reads are synchronous; writes return promises that resolve once
 * durable (shared with the store's group commit).
 *
 * Differences from MemoryStorage, by design:
 *  - The snapshot's data is not kept: the application state is the store itself. snapshot()
 *    answers the metadata with empty data.
 *  - Snapshot and compaction go together (`compact(i, confState)`): the first index is always the
 *    snapshot's index + 1.
 *  - Entries that would leave a gap after the last index are refused (MemoryStorage would store a
 *    broken log), as are non-consecutive entries.
 */
import { AxisError, ErrorCode } from '../errors/index.js';
import { RAFT_COMPACTED, type RaftLog, type RaftLogState } from '../storage/raft-log.js';
import { CompactedError, type LogStorage, UnavailableError } from './storage.js';
import { type ConfState, type Entry, type EntryType, type HardState, type Snapshot, emptyConfState } from './types.js';

export function encodeConfState(cs: ConfState): Uint8Array {
  return Buffer.from(JSON.stringify(cs), 'utf8');
}

export function decodeConfState(b: Uint8Array): ConfState {
  if (b.length === 0) return emptyConfState();
  try {
    const o = JSON.parse(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8')) as Partial<ConfState>;
    return {
      voters: o.voters ?? [],
      votersOutgoing: o.votersOutgoing ?? [],
      learners: o.learners ?? [],
      learnersNext: o.learnersNext ?? [],
      autoLeave: o.autoLeave ?? false,
    };
  } catch (err) {
    throw new AxisError(ErrorCode.STORAGE, `corrupt raft conf state: ${(err as Error).message}`);
  }
}

export class DurableStorage implements LogStorage {
  /** The log's bounds and metadata as of the last write: the core asks for them on every term lookup. */
  private cached: RaftLogState | undefined;

  constructor(private readonly log: RaftLog) {}

  private state(): RaftLogState {
    return (this.cached ??= this.log.state());
  }

  /** Every write goes through here: once it is settled, the next read fetches the state again. */
  private written<T>(p: Promise<T>): Promise<T> {
    return p.finally(() => {
      this.cached = undefined;
    });
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    const s = this.state();
    return { hardState: s.hardState, confState: decodeConfState(s.snapshot.confState) };
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const r = this.log.entries(lo, hi, maxBytes);
    if (r === RAFT_COMPACTED) throw new CompactedError(lo);
    if (typeof r === 'number') throw new UnavailableError(hi - 1);
    return r.map((e) => ({ index: e.index, term: e.term, type: e.type as EntryType, data: e.data }));
  }

  term(i: number): number {
    const t = this.log.term(i);
    if (t === RAFT_COMPACTED) throw new CompactedError(i);
    if (t < 0) throw new UnavailableError(i);
    return t;
  }

  firstIndex(): number {
    return this.state().firstIndex;
  }

  lastIndex(): number {
    return this.state().lastIndex;
  }

  snapshot(): Snapshot {
    const s = this.state().snapshot;
    return { meta: { index: s.index, term: s.term, confState: decodeConfState(s.confState) }, data: new Uint8Array() };
  }

  /**
   * Persists a Ready, all or nothing in one durable commit: a snapshot (replacing the log unless
   * older than the stored one), then entries (replacing any conflicting suffix), and the hard state.
   */
  persist(p: { hardState?: HardState | undefined; snapshot?: Snapshot | undefined; entries?: readonly Entry[] | undefined; lazy?: boolean }): Promise<void> {
    const s = p.snapshot;
    return this.written(this.log.persist({
      ...(p.lazy ? { lazy: true } : {}),
      ...(p.hardState ? { hardState: p.hardState } : {}),
      ...(s ? { snapshot: { index: s.meta.index, term: s.meta.term, confState: encodeConfState(s.meta.confState) } } : {}),
      entries: p.entries ?? [],
    }));
  }

  setHardState(hs: HardState): Promise<void> {
    return this.persist({ hardState: hs });
  }

  /** Appends entries, replacing any conflicting suffix. */
  append(entries: readonly Entry[]): Promise<void> {
    return this.persist({ entries });
  }

  /** Replaces the whole log with a snapshot (ignored if older than the stored one). */
  applySnapshot(s: Snapshot): Promise<void> {
    return this.persist({ snapshot: s });
  }

  /**
   * Takes a snapshot at applied index i (≤ last index) with membership `confState`, and drops the
   * entries up to i: MemoryStorage's createSnapshot(i) then compact(i). No-op at or below the
   * current snapshot.
   */
  async compact(i: number, confState: ConfState): Promise<void> {
    const snap = this.state().snapshot;
    if (i <= snap.index) return;
    const term = this.term(i); // throws UnavailableError past the last index
    await this.written(this.log.compact({ index: i, term, confState: encodeConfState(confState) }, i + 1));
  }
}
