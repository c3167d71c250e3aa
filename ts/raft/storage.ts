/**
 * What the Raft core reads of the durable log (etcd's Storage), and an in-memory implementation
 * for tests and the simulator. The durable, native implementation comes with the log store.
 */
import { type ConfState, type Entry, type HardState, type Snapshot, emptyConfState } from './types.js';

/** The storage no longer holds the entry (compacted into a snapshot). */
export class CompactedError extends Error {
  constructor(index: number) {
    super(`entry ${index} is compacted`);
  }
}

/** The storage does not hold the entry yet. */
export class UnavailableError extends Error {
  constructor(index: number) {
    super(`entry ${index} is unavailable`);
  }
}

export interface LogStorage {
  initialState(): { hardState: HardState; confState: ConfState };
  /** Entries [lo, hi), at most maxBytes of data (but at least one entry). Throws CompactedError/UnavailableError. */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** Term of entry i; the snapshot's index answers its term. Throws CompactedError/UnavailableError. */
  term(i: number): number;
  /** Index of the first entry still held (snapshot index + 1). */
  firstIndex(): number;
  lastIndex(): number;
  /**
   * The latest snapshot. A snapshot sent to a member must include it in its membership (a member
   * refuses one that does not, as etcd's does): take one when applying a membership change.
   */
  snapshot(): Snapshot;
}

export function entryBytes(e: Entry): number {
  return e.data.length;
}

/** Cuts `ents` so their data stays within maxBytes, keeping at least one. */
export function limitSize(ents: Entry[], maxBytes: number): Entry[] {
  if (ents.length === 0) return ents;
  let size = entryBytes(ents[0]!);
  let n = 1;
  for (; n < ents.length; n++) {
    size += entryBytes(ents[n]!);
    if (size > maxBytes) break;
  }
  return n === ents.length ? ents : ents.slice(0, n);
}

/** The log in memory: entries after the snapshot, with a dummy entry at the snapshot's position. */
export class MemoryStorage implements LogStorage {
  hardState: HardState = { term: 0, vote: 0, commit: 0 };
  private snap: Snapshot = { meta: { index: 0, term: 0, confState: emptyConfState() }, data: new Uint8Array() };
  /** ents[0] stands for the snapshot: its index and term. */
  private ents: Entry[] = [{ term: 0, index: 0, type: 0, data: new Uint8Array() }];

  /** The membership as of the last applied change, kept with the applied state (see setConfState). */
  private appliedConfState: ConfState | undefined;

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hardState }, confState: this.appliedConfState ?? this.snap.meta.confState };
  }

  /** Records the membership after applying a change, durably with the applied index (as the store's meta does). */
  setConfState(cs: ConfState): void {
    this.appliedConfState = cs;
  }

  private get offset(): number {
    return this.ents[0]!.index;
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  lastIndex(): number {
    return this.offset + this.ents.length - 1;
  }

  term(i: number): number {
    if (i < this.offset) throw new CompactedError(i);
    if (i > this.lastIndex()) throw new UnavailableError(i);
    return this.ents[i - this.offset]!.term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo <= this.offset) throw new CompactedError(lo);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1);
    return limitSize(this.ents.slice(lo - this.offset, hi - this.offset), maxBytes);
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  setHardState(hs: HardState): void {
    this.hardState = { ...hs };
  }

  /** Replaces the whole log with a snapshot (a follower installing one); one older than ours is ignored. */
  applySnapshot(s: Snapshot): void {
    if (s.meta.index < this.snap.meta.index) return; // older than what we have
    this.snap = s;
    this.appliedConfState = undefined;
    this.ents = [{ term: s.meta.term, index: s.meta.index, type: 0, data: new Uint8Array() }];
  }

  /** Takes a snapshot of the application's state at applied index i (≤ last index). */
  createSnapshot(i: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (i <= this.snap.meta.index) return this.snap;
    if (i > this.lastIndex()) throw new UnavailableError(i);
    this.snap = { meta: { index: i, term: this.term(i), confState }, data };
    return this.snap;
  }

  /** Drops entries before `compactIndex` (it stays as the new dummy). */
  compact(compactIndex: number): void {
    if (compactIndex <= this.offset) return;
    if (compactIndex > this.lastIndex()) throw new UnavailableError(compactIndex);
    this.ents = this.ents.slice(compactIndex - this.offset);
    const first = this.ents[0]!;
    this.ents[0] = { term: first.term, index: first.index, type: 0, data: new Uint8Array() };
  }

  /** Appends entries, replacing any conflicting suffix (what persisting a Ready does). */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    if (first + entries.length - 1 < this.firstIndex()) return; // all compacted already
    const from = Math.max(first, this.firstIndex());
    const tail = entries.slice(from - first);
    this.ents = this.ents.slice(0, from - this.offset).concat(tail);
  }
}
