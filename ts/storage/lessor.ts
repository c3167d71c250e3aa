/**
 * The lessor: the clock half of leases (native/lease.h holds the rest), for the embedded store and
 * for every cluster member (whose leader alone decides).
 *
 * Deadlines live in memory: a lease is due at (time loaded or granted or renewed) + its checkpointed
 * remaining TTL, or its full TTL if it has none. While deciding, a timer revokes due leases
 * (rate-limited) through LEASE_EXPIRE writes, and another persists the remaining TTL of long leases
 * (LEASE_CHECKPOINT) so that a reopened store or restarted cluster does not give them their full TTL
 * again; a keepalive (LEASE_RENEW) clears the checkpoint and restarts the full TTL.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { AxisError, ErrorCode, isAxisError } from '../errors/index.js';
import { Decoder } from './codec.js';
import type { LeaseCheckpoint } from './types.js';
import type { LeaseEffect, PreparedWrite } from './write-request.js';
import { prepareLeaseCheckpoint, prepareLeaseExpire } from './write-request.js';

export interface StoredLease {
  id: number;
  /** Granted TTL, seconds. */
  ttl: number;
  /** The persisted remaining TTL, ms; 0: none. */
  remainingMs: number;
  /** Keepalives applied so far (an expiry decided before the latest one is refused). */
  renewals: number;
}

/** native leases(): u32 n | (u64 id | u64 ttl | u64 remainingMs | u64 renewals)* */
export function decodeLeases(buf: Buffer): StoredLease[] {
  const d = new Decoder(buf);
  const n = d.u32();
  const out: StoredLease[] = [];
  for (let i = 0; i < n; i++) out.push({ id: d.u64(), ttl: d.u64(), remainingMs: d.u64(), renewals: d.u64() });
  return out;
}

export interface StoredLeaseDetail {
  ttl: number;
  remainingMs: number;
  renewals: number;
  keyCount: number;
  keys: Buffer[];
}

/** native lease(): u64 ttl | u64 remainingMs | u64 renewals | u64 keyCount | u32 n | (u32 len | key)* */
export function decodeLease(buf: Buffer): StoredLeaseDetail {
  const d = new Decoder(buf);
  const ttl = d.u64();
  const remainingMs = d.u64();
  const renewals = d.u64();
  const keyCount = d.u64();
  const n = d.u32();
  const keys: Buffer[] = [];
  for (let i = 0; i < n; i++) keys.push(Buffer.from(d.bytes(d.u32())));
  return { ttl, remainingMs, renewals, keyCount, keys };
}

/** A random positive id below 2^52. */
export function randomLeaseId(): number {
  for (;;) {
    const b = randomBytes(7);
    const id = (b.readUIntLE(0, 6) + (b[6]! & 0x0f) * 2 ** 48);
    if (id > 0) return id;
  }
}

/** Runs `fn` every `ms` until the returned function is called: real timers, or a simulation's logical ones. */
export interface Scheduler {
  every(ms: number, fn: () => void): () => void;
}

/** Node's timers, unref'd (a lessor never keeps a process alive). */
export const realTimers: Scheduler = {
  every(ms, fn) {
    const t = setInterval(fn, ms);
    t.unref();
    return () => clearInterval(t);
  },
};

export interface LessorOptions {
  expiryIntervalMs: number;
  checkpointIntervalMs: number;
  revokeRate: number;
  /** Milliseconds on a monotonic clock. */
  clock: () => number;
  scheduler?: Scheduler;
}

export const LESSOR_DEFAULTS: Omit<LessorOptions, 'clock'> = {
  expiryIntervalMs: 500,
  checkpointIntervalMs: 5 * 60 * 1000,
  revokeRate: 1000,
};

/** Most leases in one checkpoint write (etcd's batch). */
const CHECKPOINT_BATCH = 1000;

type Submit = <T>(w: PreparedWrite<T>) => Promise<T>;

interface Entry {
  ttl: number;
  renewals: number;
  /** When the lease is due, on this lessor's clock. */
  deadline: number;
}

/**
 * Every member keeps one, leading or not, so that a new leader starts from deadlines it has been
 * counting down itself rather than from full TTLs:
 *
 * - Loaded from the store, a lease is due its checkpointed remaining TTL (or its full TTL) from now.
 *   The time since that checkpoint is unknown here (this process was not running), so this is late,
 *   never early.
 * - An applied grant or keepalive makes it due its full TTL from the apply; an applied checkpoint
 *   (the leader's lessor deciding, in the current term) makes it due its remaining TTL from the
 *   apply. A replica applies after the leader did, so its deadline is never earlier than the leader's.
 * - `lead(graceMs)` starts deciding: no lease is due sooner than `graceMs` from now (a new leader
 *   gives clients an election's time to reach it: keepalives could not commit while there was no
 *   leader), leases due together are spread at the revoke rate, and timers propose the revokes of
 *   due leases and checkpoint long leases' remaining TTLs (at once, then every interval).
 *   `follow()` stops deciding.
 *
 * A revoke for expiry is LEASE_EXPIRE with the renewals the lessor saw: a keepalive applied after
 * the decision wins, so a client whose keepalive succeeded keeps its lease for a full TTL.
 */
export class Lessor {
  private readonly leases = new Map<number, Entry>();
  private readonly revoking = new Set<number>();
  private readonly scheduler: Scheduler;
  private timers: (() => void)[] = [];
  private checkpointing = false;
  private deciding = false;
  private closed = false;

  constructor(
    private readonly load: () => StoredLease[],
    private readonly submit: Submit,
    private readonly options: LessorOptions,
  ) {
    this.scheduler = options.scheduler ?? realTimers;
    this.reload();
  }

  /**
   * Takes the store's leases (at start, or after the store was replaced by a snapshot). A lease
   * already counted here with the same renewals keeps its deadline (nothing renewed it since, and
   * what this lessor counted is at least as late as the truth); any other is due its checkpointed
   * remaining TTL, or its full TTL, from now.
   */
  reload(): void {
    const now = this.now();
    const before = new Map(this.leases);
    this.leases.clear();
    for (const l of this.load()) {
      const known = before.get(l.id);
      const deadline = known && known.renewals === l.renewals ? known.deadline : now + (l.remainingMs > 0 ? l.remainingMs : l.ttl * 1000);
      this.leases.set(l.id, { ttl: l.ttl, renewals: l.renewals, deadline });
    }
  }

  get leading(): boolean {
    return this.deciding;
  }

  /** Starts deciding expiry (see the class comment). */
  lead(graceMs = 0): void {
    if (this.deciding || this.closed) return;
    this.deciding = true;
    const now = this.now();
    const all = [...this.leases].map(([id, e]) => ({ id, e, deadline: Math.max(e.deadline, now + graceMs) }));
    // Staggered, as etcd's Promote does: leases due together (many granted at once, or all given
    // the same grace by a new leader) are spread so that no second holds more than the revoke rate.
    all.sort((a, b) => a.deadline - b.deadline);
    const perSecond = Math.max(1, Math.floor(this.options.revokeRate));
    for (let i = 0; i < all.length; i++) {
      const l = all[i]!;
      if (i >= perSecond) l.deadline = Math.max(l.deadline, all[i - perSecond]!.deadline + 1000);
      l.e.deadline = l.deadline;
    }
    this.timers = [
      this.scheduler.every(this.options.expiryIntervalMs, this.expire),
      this.scheduler.every(this.options.checkpointIntervalMs, this.checkpoint),
    ];
    // At once too: the members then count from this leader's deadlines (its grace included), and a
    // member restarted later loads a fresh checkpoint rather than one from before a run of elections.
    this.checkpoint();
  }

  /** Stops deciding; deadlines go on following what is applied. */
  follow(): void {
    this.deciding = false;
    for (const cancel of this.timers) cancel();
    this.timers = [];
    this.revoking.clear();
  }

  close(): void {
    this.follow();
    this.closed = true;
  }

  now(): number {
    return this.options.clock();
  }

  /**
   * What an applied lease write means here (see the class comment). `fromOldTerm`: the entry was
   * proposed under an earlier Raft term than this member's current one, so a checkpoint in it was
   * decided by a leader that may have lost its office long before it was committed: its remaining
   * TTLs are stale and are not taken (the deadlines already counted are at least as good).
   */
  applied(effect: LeaseEffect, options: { fromOldTerm?: boolean } = {}): void {
    const now = this.now();
    if ('started' in effect) {
      const { id, ttl, renewals } = effect.started;
      this.leases.set(id, { ttl, renewals, deadline: now + ttl * 1000 });
    } else if ('revoked' in effect) {
      this.leases.delete(effect.revoked.id);
    } else if (!this.deciding && !options.fromOldTerm) {
      // The deciding lessor's own checkpoint changes nothing for it: it is the source.
      for (const c of effect.checkpointed) {
        const e = this.leases.get(c.id);
        if (e) e.deadline = now + c.remainingMs;
      }
    }
  }

  /** Milliseconds left on this lessor's clock; undefined if the lease is not known here. */
  remainingMs(id: number): number | undefined {
    const e = this.leases.get(id);
    return e === undefined ? undefined : e.deadline - this.now();
  }

  /** Whether this lessor decides expiry and holds the lease as past its deadline (its revoke on the way). */
  expired(id: number): boolean {
    if (!this.deciding) return false;
    const r = this.remainingMs(id);
    return r !== undefined && r <= 0;
  }

  /** Proposes the revokes of due leases, earliest first, at most the rate allows per interval. */
  private readonly expire = (): void => {
    if (!this.deciding) return;
    const now = this.now();
    const budget = Math.max(1, Math.floor((this.options.revokeRate * this.options.expiryIntervalMs) / 1000));
    const due = [...this.leases].filter(([id, e]) => e.deadline <= now && !this.revoking.has(id));
    due.sort((a, b) => a[1].deadline - b[1].deadline);
    for (const [id, e] of due.slice(0, budget)) {
      this.revoking.add(id);
      this.submit(prepareLeaseExpire(id, e.renewals)).then(
        () => {
          this.revoking.delete(id);
          this.leases.delete(id);
        },
        (err: unknown) => {
          this.revoking.delete(id);
          if (isAxisError(err, ErrorCode.LEASE_NOT_FOUND)) this.leases.delete(id);
          // AXIS_LEASE_RENEWED: a keepalive won; its apply set the new deadline.
          else if (!isAxisError(err, ErrorCode.LEASE_RENEWED) && !isAxisError(err, ErrorCode.CLOSED) && this.deciding) {
            // Retried on the next tick; a storage fault is reported, not thrown into the timer.
            process.emitWarning(`axis: could not revoke expired lease ${id}: ${(err as Error).message}`);
          }
        },
      );
    }
  };

  /** Persists the remaining TTL of every lease longer than the checkpoint interval. */
  private readonly checkpoint = (): void => {
    if (!this.deciding || this.checkpointing) return;
    const now = this.now();
    const list: LeaseCheckpoint[] = [];
    for (const [id, e] of this.leases) {
      if (e.ttl * 1000 <= this.options.checkpointIntervalMs || this.revoking.has(id)) continue;
      const left = Math.ceil(e.deadline - now);
      if (left > 0) list.push({ id, remainingMs: left });
    }
    if (list.length === 0) return;
    this.checkpointing = true;
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < list.length; i += CHECKPOINT_BATCH) {
      writes.push(this.submit(prepareLeaseCheckpoint(list.slice(i, i + CHECKPOINT_BATCH))));
    }
    Promise.all(writes).then(
      () => {
        this.checkpointing = false;
      },
      (err: unknown) => {
        this.checkpointing = false;
        if (!isAxisError(err, ErrorCode.CLOSED) && this.deciding) {
          process.emitWarning(`axis: could not checkpoint lease TTLs: ${(err as Error).message}`);
        }
      },
    );
  };
}

export function lessorOptions(o: {
  leaseExpiryIntervalMs?: number;
  leaseCheckpointIntervalMs?: number;
  leaseRevokeRate?: number;
  leaseClock?: () => number;
}): LessorOptions {
  const positive = (v: unknown, what: string, dflt: number): number => {
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1 || v > 2 ** 31 - 1) {
      throw new AxisError(ErrorCode.INVALID_ARGUMENT, `${what} must be an integer from 1 to ${2 ** 31 - 1}`);
    }
    return v;
  };
  if (o.leaseClock !== undefined && typeof o.leaseClock !== 'function') {
    throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'leaseClock must be a function');
  }
  return {
    expiryIntervalMs: positive(o.leaseExpiryIntervalMs, 'leaseExpiryIntervalMs', LESSOR_DEFAULTS.expiryIntervalMs),
    checkpointIntervalMs: positive(o.leaseCheckpointIntervalMs, 'leaseCheckpointIntervalMs', LESSOR_DEFAULTS.checkpointIntervalMs),
    revokeRate: positive(o.leaseRevokeRate, 'leaseRevokeRate', LESSOR_DEFAULTS.revokeRate),
    clock: o.leaseClock ?? (() => performance.now()),
  };
}
