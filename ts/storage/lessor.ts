/**
 * The embedded store's lessor: the clock half of leases (native/lease.h holds the rest).
 *
 * Deadlines live in memory: a lease is due at (time loaded or granted or renewed) + its checkpointed
 * remaining TTL, or its full TTL if it has none. A timer revokes due leases (rate-limited) through
 * ordinary LEASE_REVOKE writes, and another persists the remaining TTL of long leases (LEASE_CHECKPOINT)
 * so that a reopened store does not give them their full TTL again; a keepalive (LEASE_RENEW) clears
 * the checkpoint and restarts the full TTL. A cluster member does not run one: its leader decides.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { AxisError, ErrorCode, isAxisError } from '../errors/index.js';
import { Decoder } from './codec.js';
import type { LeaseCheckpoint } from './types.js';
import type { PreparedWrite } from './write-request.js';
import { prepareLeaseCheckpoint, prepareLeaseRevoke } from './write-request.js';

export interface StoredLease {
  id: number;
  /** Granted TTL, seconds. */
  ttl: number;
  /** The persisted remaining TTL, ms; 0: none. */
  remainingMs: number;
}

/** native leases(): u32 n | (u64 id | u64 ttl | u64 remainingMs)* */
export function decodeLeases(buf: Buffer): StoredLease[] {
  const d = new Decoder(buf);
  const n = d.u32();
  const out: StoredLease[] = [];
  for (let i = 0; i < n; i++) out.push({ id: d.u64(), ttl: d.u64(), remainingMs: d.u64() });
  return out;
}

export interface StoredLeaseDetail {
  ttl: number;
  remainingMs: number;
  keyCount: number;
  keys: Buffer[];
}

/** native lease(): u64 ttl | u64 remainingMs | u64 keyCount | u32 n | (u32 len | key)* */
export function decodeLease(buf: Buffer): StoredLeaseDetail {
  const d = new Decoder(buf);
  const ttl = d.u64();
  const remainingMs = d.u64();
  const keyCount = d.u64();
  const n = d.u32();
  const keys: Buffer[] = [];
  for (let i = 0; i < n; i++) keys.push(Buffer.from(d.bytes(d.u32())));
  return { ttl, remainingMs, keyCount, keys };
}

/** A random positive id below 2^52. */
export function randomLeaseId(): number {
  for (;;) {
    const b = randomBytes(7);
    const id = (b.readUIntLE(0, 6) + (b[6]! & 0x0f) * 2 ** 48);
    if (id > 0) return id;
  }
}

export interface LessorOptions {
  expiryIntervalMs: number;
  checkpointIntervalMs: number;
  revokeRate: number;
  clock: () => number;
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
  deadline: number;
}

export class Lessor {
  private readonly leases = new Map<number, Entry>();
  private readonly revoking = new Set<number>();
  private expiryTimer: NodeJS.Timeout | undefined;
  private checkpointTimer: NodeJS.Timeout | undefined;
  private checkpointing = false;
  private stopped = false;

  constructor(
    private readonly load: () => StoredLease[],
    private readonly submit: Submit,
    private readonly options: LessorOptions,
  ) {}

  /**
   * Loads the stored leases' deadlines (their checkpointed remaining TTL, or their full TTL, plus
   * `extendMs`: a new cluster leader gives clients an election's time to reach it) and starts the timers.
   */
  start(extendMs = 0): void {
    const now = this.now();
    const loaded = this.load().map((l) => ({ id: l.id, ttl: l.ttl, deadline: now + extendMs + (l.remainingMs > 0 ? l.remainingMs : l.ttl * 1000) }));
    // Staggered, as etcd's Promote does: leases due together (many granted at once, or all
    // restored at a leader change) are spread so that no second holds more than the revoke rate.
    loaded.sort((a, b) => a.deadline - b.deadline);
    const perSecond = Math.max(1, Math.floor(this.options.revokeRate));
    for (let i = 0; i < loaded.length; i++) {
      const l = loaded[i]!;
      if (i >= perSecond) l.deadline = Math.max(l.deadline, loaded[i - perSecond]!.deadline + 1000);
      this.leases.set(l.id, { ttl: l.ttl, deadline: l.deadline });
    }
    this.expiryTimer = setInterval(this.expire, this.options.expiryIntervalMs);
    this.expiryTimer.unref();
    this.checkpointTimer = setInterval(this.checkpoint, this.options.checkpointIntervalMs);
    this.checkpointTimer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.expiryTimer);
    clearInterval(this.checkpointTimer);
  }

  now(): number {
    return this.options.clock();
  }

  /** A lease was granted, or renewed: its full TTL runs from now. */
  started(id: number, ttl: number): void {
    this.leases.set(id, { ttl, deadline: this.now() + ttl * 1000 });
  }

  revoked(id: number): void {
    this.leases.delete(id);
  }

  /** Milliseconds left; undefined if the lease is not known here (e.g. granted through `apply`). */
  remainingMs(id: number): number | undefined {
    const e = this.leases.get(id);
    return e === undefined ? undefined : e.deadline - this.now();
  }

  /** Whether the lease is known here and past its deadline (waiting for its revoke). */
  expired(id: number): boolean {
    const r = this.remainingMs(id);
    return r !== undefined && r <= 0;
  }

  /** Revokes due leases, earliest first, at most the rate allows per interval. */
  private readonly expire = (): void => {
    if (this.stopped) return;
    const now = this.now();
    const budget = Math.max(1, Math.floor((this.options.revokeRate * this.options.expiryIntervalMs) / 1000));
    const due = [...this.leases].filter(([id, e]) => e.deadline <= now && !this.revoking.has(id));
    due.sort((a, b) => a[1].deadline - b[1].deadline);
    for (const [id] of due.slice(0, budget)) {
      this.revoking.add(id);
      this.submit(prepareLeaseRevoke(id)).then(
        () => {
          this.revoking.delete(id);
          // A keepalive that raced in (renewing the lease) cannot have succeeded: it was expired.
          this.leases.delete(id);
        },
        (err: unknown) => {
          this.revoking.delete(id);
          if (isAxisError(err, ErrorCode.LEASE_NOT_FOUND)) this.leases.delete(id);
          else if (!isAxisError(err, ErrorCode.CLOSED) && !this.stopped) {
            // Retried on the next tick; a storage fault is reported, not thrown into the timer.
            process.emitWarning(`axis: could not revoke expired lease ${id}: ${(err as Error).message}`);
          }
        },
      );
    }
  };

  /** Persists the remaining TTL of every lease longer than the checkpoint interval. */
  private readonly checkpoint = (): void => {
    if (this.stopped || this.checkpointing) return;
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
        if (!isAxisError(err, ErrorCode.CLOSED) && !this.stopped) {
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
