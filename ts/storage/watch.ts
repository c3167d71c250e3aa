/**
 * Watches: every change to a key or a range, from a start revision on, in revision order.
 *
 * One source of truth: the store's change log (`changes()`), read from each watcher's next
 * revision. A watcher that is caught up shares one read with every other caught-up watcher after
 * each commit; one that is behind (a start revision in the past, a slow consumer) reads its own
 * way forward, a bounded slice at a time. So the guarantees are etcd's by construction:
 * - events arrive in revision order, without duplicates or gaps from the start revision on;
 * - a revision is never split across two responses (the change log never splits one);
 * - a response's `revision` means every event up to it has been delivered (progress);
 * - a watcher whose next revision has been compacted away is cancelled with the compact revision.
 *
 * Nothing here blocks the writer or the apply loop: `notify()` only schedules delivery, and a
 * consumer that does not keep up (its sink refuses) is simply left behind, costing nothing more
 * than its position, until its sink says it has room (`resume`): then it catches up.
 */
import { AxisError, ErrorCode, isAxisError } from '../errors/index.js';
import type { Bytes, ChangesResult, Event, KeyValue } from './types.js';
import { checkCount, checkKey, checkRange, prefixEnd, toBuffer } from './validate.js';

export type WatchFilter = 'noPut' | 'noDelete';

export interface WatchOptions {
  /** Watch [key, end) (null: every key from `key` on) instead of the one key. */
  end?: Bytes | null;
  /** Watch every key starting with `key` (then `end` must be absent). */
  prefix?: boolean;
  /** First revision to deliver (0 or absent: the next one). */
  startRevision?: number;
  /** Each event carries the key-value as it was before the change (when not compacted). */
  prevKv?: boolean;
  filters?: WatchFilter[];
  /** Also send an empty response now and then while nothing changes, to say how far it is. */
  progressNotify?: boolean;
}

export interface WatchEvent extends Event {
  prevKv?: KeyValue;
}

export interface WatchResponse {
  watchId: number;
  events: WatchEvent[];
  /** Every event up to this revision has been delivered. */
  revision: number;
  /** The watch ended: compacted past (compactRevision set), cancelled, or the store closed. */
  canceled?: boolean;
  compactRevision?: number;
  cancelReason?: string;
}

/** What a watch reads: the store (or a member's store). */
export interface ChangeSource {
  revision(): number;
  compactRevision(): number;
  changes(from: number, options: { to: number; limit: number }): ChangesResult;
  get(key: Bytes, options: { revision: number }): KeyValue | undefined;
}

/**
 * Where a watcher's responses go; false: full for now (the watcher waits, and is read for again
 * only once `WatchHub.resume(id)` says there is room). A cancellation is never refused.
 */
export type WatchSink = (r: WatchResponse) => boolean;

interface Watcher {
  id: number;
  start: Buffer;
  /** undefined: the one key; null: every key from start on. */
  end: Buffer | null | undefined;
  /** Next revision to deliver. */
  next: number;
  prevKv: boolean;
  noPut: boolean;
  noDelete: boolean;
  progressNotify: boolean;
  sink: WatchSink;
  /** The revision the last response said was delivered. */
  reported: number;
  lastSent: number;
  /** Its sink refused: nothing is read for it until resume(). */
  waiting: boolean;
}

/** Most change events read in one slice (a revision is never split, so one can hold more). */
const SLICE = 1000;
/**
 * About the most bytes of key-values one slice (so one response) holds: the next slice's length
 * follows the sizes of the last one's events, so large values make short slices, and a reader that
 * does not keep up is never sent (nor made to hold) more than about this at once.
 */
const SLICE_BYTES = 1024 * 1024;

function compare(a: Buffer, b: Buffer): number {
  return Buffer.compare(a, b);
}

export class WatchHub {
  private readonly watchers = new Map<number, Watcher>();
  private nextId = 1;
  /** Events per slice, adapted to their sizes (see SLICE_BYTES). */
  private sliceLimit = SLICE;
  private scheduled = false;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly source: ChangeSource,
    private readonly options: { progressIntervalMs?: number } = {},
  ) {
    const every = options.progressIntervalMs ?? 10 * 60 * 1000; // etcd's default progress interval
    this.timer = setInterval(() => this.progress(), every);
    this.timer.unref();
  }

  get size(): number {
    return this.watchers.size;
  }

  /** Starts a watch; its responses go to `sink`. Bad input: an AxisError, nothing started. */
  watch(key: Bytes, options: WatchOptions, sink: WatchSink): number {
    if (this.closed) throw new AxisError(ErrorCode.CLOSED, 'the store is closed');
    if (options !== undefined && (typeof options !== 'object' || options === null)) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'watch options must be an object');
    let start: Buffer;
    let end: Buffer | null | undefined;
    if (options.prefix) {
      if (options.end !== undefined) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'a prefix watch takes no end');
      start = toBuffer(key, 'prefix');
      if (start.length > 0) checkKey(start, 'prefix');
      end = prefixEnd(start);
    } else if (options.end !== undefined) {
      [start, end] = checkRange(key, options.end);
    } else {
      start = checkKey(key);
      end = undefined;
    }
    const filters = options.filters ?? [];
    if (!Array.isArray(filters) || filters.some((f) => f !== 'noPut' && f !== 'noDelete')) {
      throw new AxisError(ErrorCode.INVALID_ARGUMENT, `watch filters are 'noPut' and 'noDelete'`);
    }
    const head = this.source.revision();
    const from = checkCount(options.startRevision, 'startRevision');
    const w: Watcher = {
      id: this.nextId++,
      start,
      end,
      next: from === 0 ? head + 1 : from,
      prevKv: options.prevKv ?? false,
      noPut: filters.includes('noPut'),
      noDelete: filters.includes('noDelete'),
      progressNotify: options.progressNotify ?? false,
      sink,
      reported: 0,
      lastSent: Date.now(),
      waiting: false,
    };
    this.watchers.set(w.id, w);
    if (w.next <= head) this.notify();
    return w.id;
  }

  cancel(id: number, reason = 'canceled'): boolean {
    const w = this.watchers.get(id);
    if (!w) return false;
    this.watchers.delete(id);
    w.sink({ watchId: id, events: [], revision: w.next - 1, canceled: true, cancelReason: reason });
    return true;
  }

  /**
   * A progress response for one watcher (or all, without an id): sent only to watchers that are
   * caught up, since its revision promises that everything before it was delivered.
   */
  requestProgress(id?: number): void {
    if (this.closed) return;
    const head = this.source.revision();
    for (const w of id === undefined ? this.watchers.values() : [this.watchers.get(id)]) {
      if (w && w.next > head) this.send(w, [], head);
    }
  }

  /** The sink of watch `id` has room again: it catches up from where it stopped. */
  resume(id: number): void {
    const w = this.watchers.get(id);
    if (!w || !w.waiting) return;
    w.waiting = false;
    this.notify();
  }

  /** New changes were committed: deliver them (soon, not in the caller's turn). */
  notify(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.deliver();
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    for (const w of this.watchers.values()) w.sink({ watchId: w.id, events: [], revision: w.next - 1, canceled: true, cancelReason: 'the store is closed' });
    this.watchers.clear();
  }

  private progress(): void {
    if (this.closed) return;
    let head: number;
    try {
      head = this.source.revision();
    } catch {
      return; // closed: close() follows
    }
    const now = Date.now();
    const every = this.options.progressIntervalMs ?? 10 * 60 * 1000;
    for (const w of this.watchers.values()) {
      if (w.progressNotify && w.next > head && now - w.lastSent >= every / 2) this.send(w, [], head);
    }
  }

  private send(w: Watcher, events: WatchEvent[], revision: number): boolean {
    const ok = w.sink({ watchId: w.id, events, revision });
    if (ok) {
      w.reported = revision;
      w.lastSent = Date.now();
    }
    return ok;
  }

  private matches(w: Watcher, key: Buffer): boolean {
    if (w.end === undefined) return key.equals(w.start);
    return compare(key, w.start) >= 0 && (w.end === null || compare(key, w.end) < 0);
  }

  /** Delivers what each watcher is owed, a slice at a time; catch-up continues on the next turn. */
  private deliver(): void {
    if (this.closed) return;
    let head: number;
    try {
      head = this.source.revision();
    } catch (err) {
      if (isAxisError(err, ErrorCode.CLOSED)) return this.close(); // the store went first
      throw err;
    }
    // Watchers owed the same revisions share one read of the change log.
    const byNext = new Map<number, Watcher[]>();
    for (const w of this.watchers.values()) {
      if (w.next > head || w.waiting) continue;
      const group = byNext.get(w.next);
      if (group) group.push(w);
      else byNext.set(w.next, [w]);
    }
    let behind = false;
    for (const [from, group] of byNext) {
      let slice: ChangesResult;
      try {
        slice = this.source.changes(from, { to: head, limit: this.sliceLimit });
        this.adapt(slice.events);
      } catch (err) {
        if (isAxisError(err, ErrorCode.COMPACTED)) {
          const floor = this.source.compactRevision();
          for (const w of group) {
            this.watchers.delete(w.id);
            w.sink({ watchId: w.id, events: [], revision: head, canceled: true, compactRevision: floor, cancelReason: err.message });
          }
          continue;
        }
        if (isAxisError(err, ErrorCode.CLOSED)) return;
        throw err;
      }
      const upTo = slice.more ? slice.next - 1 : head;
      for (const w of group) {
        if (!this.watchers.has(w.id)) continue;
        const events: WatchEvent[] = [];
        for (const e of slice.events) {
          if (!this.matches(w, e.kv.key)) continue;
          if ((e.type === 'put' && w.noPut) || (e.type === 'delete' && w.noDelete)) continue;
          const ev: WatchEvent = { type: e.type, kv: e.kv };
          if (w.prevKv) {
            const prev = this.previous(e.kv.key, e.kv.modRevision);
            if (prev) ev.prevKv = prev;
          }
          events.push(ev);
        }
        // Caught-up watchers hear of an empty slice only through progress notifications.
        if (events.length === 0 || this.send(w, events, upTo)) w.next = upTo + 1;
        else w.waiting = true; // its consumer is full: resume() brings it back, from where it stopped
        if (w.next <= head && !w.waiting) behind = true;
      }
    }
    if (behind) this.notify();
  }

  private adapt(events: WatchEvent[]): void {
    if (events.length === 0) return;
    let bytes = 0;
    for (const e of events) bytes += e.kv.key.length + e.kv.value.length + 64;
    this.sliceLimit = Math.max(1, Math.min(SLICE, Math.floor((SLICE_BYTES * events.length) / bytes)));
  }

  private previous(key: Buffer, revision: number): KeyValue | undefined {
    try {
      return this.source.get(key, { revision: revision - 1 });
    } catch (err) {
      if (isAxisError(err, ErrorCode.COMPACTED)) return undefined;
      throw err;
    }
  }
}

/**
 * One watch as an async iterable of responses, buffered up to `maxBuffered` responses; past that
 * the hub holds back (the watcher falls behind and catches up from the change log once read).
 */
export class Watch implements AsyncIterable<WatchResponse> {
  readonly id: number;
  private readonly queue: WatchResponse[] = [];
  /** Reads waiting for a response, in call order: each gets exactly one. */
  private readonly waiting: ((r: IteratorResult<WatchResponse>) => void)[] = [];
  private ended = false;

  constructor(
    private readonly hub: WatchHub,
    key: Bytes,
    options: WatchOptions = {},
    private readonly maxBuffered = 1000,
  ) {
    this.id = hub.watch(key, options, (r) => this.push(r));
  }

  private push(r: WatchResponse): boolean {
    if (this.ended) return true;
    if (r.canceled) this.ended = true;
    const w = this.waiting.shift();
    if (w) {
      w({ value: r, done: false });
      if (this.ended) for (const rest of this.waiting.splice(0)) rest({ value: undefined, done: true });
      return true;
    }
    if (!r.canceled && this.queue.length >= this.maxBuffered) return false;
    this.queue.push(r);
    return true;
  }

  /** The next response; undefined once the watch has ended and everything was read. */
  async next(): Promise<WatchResponse | undefined> {
    const r = await this[Symbol.asyncIterator]().next();
    return r.done ? undefined : r.value;
  }

  cancel(): void {
    if (!this.ended) this.hub.cancel(this.id);
  }

  requestProgress(): void {
    this.hub.requestProgress(this.id);
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchResponse> {
    return {
      next: () => {
        const r = this.queue.shift();
        if (r) {
          if (this.queue.length === this.maxBuffered - 1) this.hub.resume(this.id); // room again
          return Promise.resolve({ value: r, done: false });
        }
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          this.waiting.push(resolve);
        });
      },
      return: () => {
        this.cancel();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
