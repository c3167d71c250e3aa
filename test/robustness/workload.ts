/**
 * What the harness's clients do while faults are injected, all recorded:
 * - KV workers: gets, puts, compare-and-sets, deletes, ranges over the epoch's prefix and two-key
 *   transactions, on a few keys that change every epoch (so each key's history stays small enough
 *   for the linearizability checker while the run touches many keys);
 * - lease workers: grant a lease, attach a key to it, keep it alive, then revoke it or abandon it
 *   and watch for it to expire;
 * - watchers: per epoch, watches over the epoch's prefix from the revision it started at (one with
 *   prevKv), read until the epoch is closed;
 * - a prober: one put after another on its own key, short deadlines: when the cluster took writes.
 */
import type { Client, ClientWatch } from '../../ts/client/index.js';
import type { WatchResponse } from '../../ts/storage/watch.js';
import { mulberry32 } from '../support/fixtures.js';
import { LOOKING } from './checks.js';
import { type Recorder, now } from './history.js';
import { MemberClient, type ProcessCluster } from './members.js';

export type RawOp =
  | { kind: 'get'; key: string; value?: string | null; rev?: undefined }
  | { kind: 'put'; key: string; value: string; rev?: number }
  | { kind: 'cas'; key: string; expect: string | null; value: string; succeeded?: boolean; rev?: number }
  | { kind: 'delete'; key: string; deleted?: boolean; rev?: number }
  | { kind: 'range'; prefix: string; kvs?: [string, string][]; rev?: number }
  | { kind: 'txn'; puts: [string, string][]; rev?: number };

/** An operation as recorded: `ok` false means its outcome is unknown (an error: it may still take effect). */
export type Recorded = RawOp & { epoch: number; client: number; call: number; ret: number; ok: boolean; error?: string };

export interface WatchLog {
  watcher: number;
  client: Client;
  prevKv: boolean;
  watch: ClientWatch;
  responses: WatchResponse[];
  /** When each response was read. */
  arrivals: number[];
  reading: Promise<void>;
  error?: string;
}

/** A slice of the run: its own keys, the operations on them, the watches over them. */
export class Epoch {
  readonly prefix: string;
  readonly keys: string[];
  readonly ops: Recorded[] = [];
  readonly watches: WatchLog[] = [];
  /** Values each key was written (the latest last): what compare-and-sets expect. */
  readonly written = new Map<string, string[]>();
  inflight = 0;
  endedAt: number | undefined;
  /** Checked and dropped: no watch is opened on it any more. */
  closed = false;

  constructor(
    readonly n: number,
    readonly startedAt: number,
    /** No operation on this epoch's keys can have a revision below this one. */
    readonly startRev: number,
    keys: number,
  ) {
    this.prefix = `e${n}/`;
    this.keys = Array.from({ length: keys }, (_, i) => `${this.prefix}k${i}`);
  }
}

export interface Renewal {
  call: number;
  ret: number;
  /** ok: renewed (or granted); gone: AXIS_LEASE_NOT_FOUND; unknown: no answer. */
  result: 'ok' | 'gone' | 'unknown';
}

export interface LeaseRec {
  id: number;
  ttlMs: number;
  epoch: number;
  key: string;
  plan: 'revoke' | 'abandon';
  /** The grant first, then every keep-alive. */
  renewals: Renewal[];
  put?: { call: number; ret: number; ok: boolean };
  revoke?: { call: number; ret: number; ok: boolean };
  /** Linearizable observations of its key: present (at the read's call) or absent (at its return). */
  seen: { at: number; present: boolean; how: string }[];
  abandonedAt?: number;
  /** The revision that deleted its key (read from the key's history once it was seen gone). */
  goneRev?: number;
}

export interface Probe {
  call: number;
  ret: number;
  ok: boolean;
  /** The revision of its write, when it succeeded. */
  rev?: number;
}

export interface WorkloadOptions {
  seed: number;
  kvWorkers: number;
  leaseWorkers: number;
  watchers: number;
  epochMs: number;
  keysPerEpoch: number;
  /** Lease TTLs, seconds. */
  leaseTtl: [number, number];
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function errorText(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return `${e.code ?? 'error'}: ${(e.message ?? String(err)).slice(0, 200)}`;
}

export class Workload {
  /** Epochs not closed yet, oldest first. */
  readonly epochs: Epoch[] = [];
  readonly leases: LeaseRec[] = [];
  readonly probes: Probe[] = [];
  /** Totals over the run (epochs are dropped once checked). */
  readonly totals = { ops: 0, ok: 0, unknown: 0, leases: 0, watchResponses: 0 };
  /** The highest revision any reply showed. */
  maxRev = 1;
  private current!: Epoch;
  private stopped = false;
  private running: Promise<void>[] = [];
  private readonly watchesStarting = new Set<Promise<void>>();
  private epochTimer: NodeJS.Timeout | undefined;
  private readonly clients = new Map<string, MemberClient>();

  constructor(
    private readonly cluster: ProcessCluster,
    private readonly recorder: Recorder,
    private readonly options: WorkloadOptions,
  ) {}

  get epoch(): Epoch {
    return this.current;
  }

  async start(): Promise<void> {
    const st = await this.cluster.status();
    this.maxRev = Math.max(1, ...st.map((s) => s.revision));
    this.newEpoch(0);
    this.epochTimer = setInterval(() => this.newEpoch(this.current.n + 1), this.options.epochMs);
    const o = this.options;
    for (let i = 0; i < o.kvWorkers; i++) this.running.push(this.kvWorker(i, mulberry32(o.seed * 7919 + i + 1)));
    for (let i = 0; i < o.leaseWorkers; i++) this.running.push(this.leaseWorker(i, mulberry32(o.seed * 7919 + 100 + i)));
    this.running.push(this.prober());
  }

  /** Stops every client loop (each finishes its current operation) and ends the current epoch. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.epochTimer);
    await Promise.all([...this.running, ...this.watchesStarting]);
    this.current.endedAt = now();
  }

  async close(): Promise<void> {
    for (const e of this.epochs) for (const w of e.watches) w.watch.cancel();
    for (const c of this.clients.values()) await c.close();
    this.clients.clear();
  }

  private newEpoch(n: number): void {
    const at = now();
    if (this.current) this.current.endedAt = at;
    const e = new Epoch(n, at, this.maxRev + 1, this.options.keysPerEpoch);
    this.current = e;
    this.epochs.push(e);
    this.recorder.write({ t: 'epoch', epoch: n, at, startRev: e.startRev });
    for (let i = 0; i < this.options.watchers; i++) {
      const starting: Promise<void> = this.startWatch(e, i).finally(() => this.watchesStarting.delete(starting));
      this.watchesStarting.add(starting);
    }
  }

  /** A client per role, made again when the membership changed. */
  client(role: string, options: { watchKeepAliveMs?: number; timeoutMs?: number } = {}): Promise<Client> {
    let c = this.clients.get(role);
    if (!c) {
      // A watch client is closed only once no open epoch's watch reads from it.
      const watching = (cl: Client) => this.epochs.some((e) => e.watches.some((w) => w.client === cl));
      c = new MemberClient(this.cluster, {
        timeoutMs: options.timeoutMs ?? 5000, attemptTimeoutMs: 1000,
        ...(options.watchKeepAliveMs ? { watchKeepAliveMs: options.watchKeepAliveMs } : {}),
      }, (cl) => !watching(cl));
      this.clients.set(role, c);
    }
    return c.get();
  }

  private noteRev(rev: number | undefined): void {
    if (rev !== undefined && rev > this.maxRev) this.maxRev = rev;
  }

  private record(e: Epoch, op: Recorded): void {
    e.ops.push(op);
    this.totals.ops++;
    if (op.ok) this.totals.ok++;
    else this.totals.unknown++;
    this.noteRev(op.rev);
    this.recorder.write({ t: 'op', ...op });
  }

  /** Runs one operation, filling in its outcome. */
  async execute(cl: Client, op: RawOp): Promise<void> {
    switch (op.kind) {
      case 'get': {
        const kv = await cl.get(op.key);
        op.value = kv ? kv.value.toString() : null;
        return;
      }
      case 'put':
        op.rev = (await cl.put(op.key, op.value)).revision;
        return;
      case 'delete': {
        const r = await cl.delete(op.key);
        op.deleted = r.deleted > 0;
        op.rev = r.revision;
        return;
      }
      case 'cas': {
        const compare = op.expect === null
          ? { key: op.key, target: 'version' as const, result: '=' as const, value: 0 }
          : { key: op.key, target: 'value' as const, result: '=' as const, value: op.expect };
        const r = await cl.txn({ compare: [compare], success: [{ put: { key: op.key, value: op.value } }] });
        op.succeeded = r.succeeded;
        op.rev = r.revision;
        return;
      }
      case 'range': {
        const r = await cl.prefix(op.prefix);
        op.kvs = r.kvs.map((kv) => [kv.key.toString(), kv.value.toString()]);
        op.rev = r.revision;
        return;
      }
      case 'txn': {
        const r = await cl.txn({ compare: [], success: op.puts.map(([key, value]) => ({ put: { key, value } })) });
        op.rev = r.revision;
      }
    }
  }

  /** Runs `op` on epoch `e` with `cl` and records it (call, return, outcome). */
  async run(e: Epoch, client: number, cl: Client, op: RawOp): Promise<Recorded> {
    e.inflight++;
    const call = now();
    let ok = true;
    let error: string | undefined;
    try {
      await this.execute(cl, op);
    } catch (err) {
      ok = false;
      error = errorText(err);
    } finally {
      e.inflight--;
    }
    const rec: Recorded = { ...op, epoch: e.n, client, call, ret: now(), ok, ...(error ? { error } : {}) };
    this.record(e, rec);
    return rec;
  }

  private async kvWorker(i: number, rand: () => number): Promise<void> {
    let n = 0;
    while (!this.stopped) {
      let cl: Client;
      try {
        // Half the workers give up sooner: more writes whose outcome is unknown (retried, maybe applied).
        cl = await this.client(`kv${i}`, { timeoutMs: i % 2 === 0 ? 5000 : 2000 });
      } catch {
        await sleep(200);
        continue;
      }
      const e = this.current;
      const key = e.keys[Math.floor(rand() * e.keys.length)]!;
      const value = `${e.n}.${i}.${++n}`;
      const r = rand();
      let op: RawOp;
      if (r < 0.22) op = { kind: 'get', key };
      else if (r < 0.44) op = { kind: 'put', key, value };
      else if (r < 0.62) {
        const seen = e.written.get(key) ?? [];
        const expect = seen.length === 0 || rand() < 0.2 ? null : seen[Math.max(0, seen.length - 1 - Math.floor(rand() * 3))]!;
        op = { kind: 'cas', key, expect, value };
      } else if (r < 0.72) op = { kind: 'delete', key };
      else if (r < 0.86) op = { kind: 'range', prefix: e.prefix };
      else {
        const other = e.keys[(e.keys.indexOf(key) + 1 + Math.floor(rand() * (e.keys.length - 1))) % e.keys.length]!;
        op = { kind: 'txn', puts: [[key, value], [other, `${value}b`]] };
      }
      await this.run(e, i, cl, op);
      const puts: [string, string][] = op.kind === 'put' || op.kind === 'cas' ? [[op.key, op.value]] : op.kind === 'txn' ? op.puts : [];
      for (const [k, v] of puts) e.written.set(k, [...(e.written.get(k) ?? []).slice(-5), v]);
    }
  }

  // ---- leases --------------------------------------------------------------------------------

  private async leaseWorker(i: number, rand: () => number): Promise<void> {
    while (!this.stopped) {
      let cl: Client;
      try {
        cl = await this.client(`lease${i}`);
      } catch {
        await sleep(200);
        continue;
      }
      const [lo, hi] = this.options.leaseTtl;
      const ttl = lo + Math.floor(rand() * (hi - lo + 1));
      const grantCall = now();
      let id: number;
      let ttlMs: number;
      try {
        const g = await cl.leaseGrant(ttl);
        id = g.id;
        ttlMs = g.ttl * 1000;
      } catch (err) {
        this.recorder.write({ t: 'lease-grant-failed', call: grantCall, ret: now(), error: errorText(err) });
        await sleep(100);
        continue;
      }
      const e = this.current;
      const rec: LeaseRec = {
        id, ttlMs, epoch: e.n, key: `${e.prefix}l${id.toString(16)}`, plan: rand() < 0.5 ? 'revoke' : 'abandon',
        renewals: [{ call: grantCall, ret: now(), result: 'ok' }], seen: [],
      };
      this.leases.push(rec);
      this.totals.leases++;
      await this.leaseLife(cl, rec, rand);
      this.recorder.write({ t: 'lease', ...rec });
    }
  }

  private async leaseLife(cl: Client, rec: LeaseRec, rand: () => number): Promise<void> {
    const putCall = now();
    try {
      const r = await cl.put(rec.key, `L${rec.id.toString(16)}`, { lease: rec.id });
      this.noteRev(r.revision);
      rec.put = { call: putCall, ret: now(), ok: true };
    } catch {
      rec.put = { call: putCall, ret: now(), ok: false };
    }
    const lifeEnd = now() + 2000 + rand() * 12_000;
    while (!this.stopped && now() < lifeEnd && rec.put.ok) {
      await sleep(rec.ttlMs / 3);
      if (this.stopped) break;
      const call = now();
      try {
        await cl.leaseKeepAlive(rec.id);
        rec.renewals.push({ call, ret: now(), result: 'ok' });
      } catch (err) {
        const gone = (err as { code?: string }).code === 'AXIS_LEASE_NOT_FOUND';
        rec.renewals.push({ call, ret: now(), result: gone ? 'gone' : 'unknown' });
        if (gone) {
          rec.seen.push({ at: now(), present: false, how: 'keep-alive refused' });
          return;
        }
      }
    }
    if (rec.plan === 'revoke' || !rec.put.ok) {
      const call = now();
      try {
        const r = await cl.leaseRevoke(rec.id);
        this.noteRev(r.revision);
        rec.revoke = { call, ret: now(), ok: true };
      } catch (err) {
        rec.revoke = { call, ret: now(), ok: false };
        if ((err as { code?: string }).code === 'AXIS_LEASE_NOT_FOUND') rec.seen.push({ at: now(), present: false, how: 'revoke refused' });
      }
      if (rec.put.ok) await this.observe(cl, rec, 'read after revoke');
      return;
    }
    rec.abandonedAt = now();
    // Abandoned: it must expire. Look until it did (the run's end looks again).
    const until = now() + rec.ttlMs + 20_000;
    while (!this.stopped && now() < until) {
      if ((await this.observe(cl, rec, LOOKING)) === false) {
        // When it went: the revision of its deletion (the prober's writes date it).
        const events = await cl.history(rec.key).catch(() => []);
        const gone = events.find((ev) => ev.type === 'delete');
        if (gone) rec.goneRev = gone.kv.modRevision;
        return;
      }
      await sleep(250);
    }
  }

  /** A linearizable read of the lease's key, noted as an observation; undefined if it failed. */
  async observe(cl: Client, rec: LeaseRec, how: string): Promise<boolean | undefined> {
    const call = now();
    try {
      const kv = await cl.get(rec.key);
      const present = kv !== undefined;
      rec.seen.push({ at: present ? call : now(), present, how });
      return present;
    } catch {
      return undefined;
    }
  }

  // ---- watches -------------------------------------------------------------------------------

  private async startWatch(e: Epoch, i: number): Promise<void> {
    let cl: Client;
    try {
      cl = await this.client(`watch${i}`, { watchKeepAliveMs: 1000 });
    } catch (err) {
      this.recorder.write({ t: 'watch-not-started', epoch: e.n, watcher: i, error: errorText(err) });
      return;
    }
    if (e.closed || this.stopped) return;
    const prevKv = i % 2 === 1;
    const watch = cl.watch(e.prefix, { prefix: true, startRevision: e.startRev, ...(prevKv ? { prevKv: true } : {}) });
    const log: WatchLog = { watcher: i, client: cl, prevKv, watch, responses: [], arrivals: [], reading: Promise.resolve() };
    log.reading = (async () => {
      for await (const r of watch) {
        log.responses.push(r);
        log.arrivals.push(now());
        this.totals.watchResponses++;
        this.recorder.write({
          t: 'watch', epoch: e.n, watcher: i, at: now(), revision: r.revision,
          events: r.events.map((ev) => [ev.kv.modRevision, ev.type, ev.kv.key.toString(), ev.kv.value.toString(), ...(ev.prevKv ? [ev.prevKv.value.toString()] : [])]),
          ...(r.canceled ? { canceled: true, compactRevision: r.compactRevision } : {}),
        });
      }
      if (watch.error) log.error = errorText(watch.error);
    })();
    e.watches.push(log);
  }

  // ---- availability --------------------------------------------------------------------------

  private async prober(): Promise<void> {
    let n = 0;
    while (!this.stopped) {
      let cl: Client;
      try {
        cl = await this.client('probe', { timeoutMs: 1000 });
      } catch {
        await sleep(100);
        continue;
      }
      const call = now();
      let rev: number | undefined;
      try {
        rev = (await cl.put('probe', String(++n))).revision;
        this.noteRev(rev);
      } catch {
        rev = undefined;
      }
      this.probes.push({ call, ret: now(), ok: rev !== undefined, ...(rev === undefined ? {} : { rev }) });
      await sleep(rev !== undefined ? 50 : 10);
    }
  }

  /** Resolves with when the first probe called at or after `from` succeeded, or undefined after `ms`. */
  async recovered(from: number, ms: number): Promise<number | undefined> {
    const deadline = now() + ms;
    for (;;) {
      const p = this.probes.find((x) => x.ok && x.call >= from);
      if (p) return p.ret;
      if (now() > deadline || this.stopped) return undefined;
      await sleep(20);
    }
  }
}
