/**
 * The systems the workloads run against, behind one small interface: embedded Axis, raw lmdb-js,
 * an Axis cluster of 1 or 3 `axis serve` processes, and a 3-member etcd driven by the etcd3 client.
 * Every write is durable: Axis 'sync'; lmdb-js awaits `db.flushed` after each put (its put promise
 * resolves at commit, before the sync); etcd fsyncs its WAL before answering.
 */
import path from 'node:path';
import { open as openLmdb, type RootDatabase } from 'lmdb';
import { Etcd3, Range } from 'etcd3';
import type { Client } from '../ts/client/index.js';
import { open as openAxis, type Store } from '../ts/index.js';
import type { WatchResponse } from '../ts/storage/index.js';
import { startCluster, type LocalCluster } from './cluster.js';
import { startEtcd, type EtcdCluster } from './etcd.js';
import type { Scratch } from './util.js';

export const SYSTEM_IDS = ['axis-embedded', 'lmdb-js', 'axis-1', 'axis-3', 'etcd-3'] as const;
export type SystemId = (typeof SYSTEM_IDS)[number];

export const SYSTEM_LABELS: Record<SystemId, string> = {
  'axis-embedded': 'Axis embedded',
  'lmdb-js': 'lmdb-js',
  'axis-1': 'Axis 1 member',
  'axis-3': 'Axis 3 members',
  'etcd-3': 'etcd 3 members',
};

export interface ReadOptions {
  serializable?: boolean;
  revision?: number;
}

/** A value delivered to a watcher. */
export type OnValue = (value: Buffer) => void;

export interface KvSystem {
  readonly id: SystemId;
  readonly kind: 'embedded' | 'cluster';
  /** Reads at an old revision. */
  readonly revisions: boolean;
  /** Serializable reads differ from linearizable ones (a cluster). */
  readonly serializable: boolean;
  readonly watches: boolean;
  /** A durable put; the revision it made (0 where there are none). */
  put(key: Buffer, value: Buffer): Promise<number>;
  /** The value, or undefined; synchronous for the embedded stores. */
  get(key: Buffer, o?: ReadOptions): Buffer | undefined | Promise<Buffer | undefined>;
  /** [start, end), at most `limit` keys; how many came back. */
  range(start: Buffer, end: Buffer, limit: number, o?: ReadOptions): number | Promise<number>;
  /** Watches every key under `prefix`; resolves once the watch is being set up. */
  watch(prefix: Buffer, onValue: OnValue): Promise<{ cancel(): void }>;
  /** The server processes (none for the embedded stores), whose CPU the workloads record. */
  pids(): number[];
  /** How it was set up, for the JSON file. */
  describe(): Record<string, unknown>;
  close(): Promise<void>;
}

/** Reads an Axis watch (embedded or client) in the background, handing each put's value on. */
function consume(w: AsyncIterable<WatchResponse> & { cancel(): void }, onValue: OnValue): { cancel(): void } {
  void (async () => {
    for await (const r of w) for (const e of r.events) if (e.type === 'put' && e.kv) onValue(e.kv.value);
  })();
  return { cancel: () => w.cancel() };
}

/** A store in the bench process: no server processes, no serializable reads apart from the others. */
abstract class InProcess {
  readonly kind = 'embedded' as const;
  readonly serializable = false;

  constructor(protected readonly dir: string) {}

  pids(): number[] {
    return [];
  }
}

class AxisEmbedded extends InProcess implements KvSystem {
  readonly id = 'axis-embedded' as const;
  readonly revisions = true;
  readonly watches = true;

  constructor(private readonly store: Store, dir: string) {
    super(dir);
  }

  async put(key: Buffer, value: Buffer): Promise<number> {
    return (await this.store.put(key, value)).revision;
  }

  get(key: Buffer, o?: ReadOptions): Buffer | undefined {
    return this.store.get(key, o?.revision ? { revision: o.revision } : undefined)?.value;
  }

  range(start: Buffer, end: Buffer, limit: number, o?: ReadOptions): number {
    return this.store.range(start, end, { limit, ...(o?.revision ? { revision: o.revision } : {}) }).kvs.length;
  }

  async watch(prefix: Buffer, onValue: OnValue): Promise<{ cancel(): void }> {
    return consume(this.store.watch(prefix, { prefix: true }), onValue);
  }

  describe(): Record<string, unknown> {
    return { what: "open(dir, {durability: 'sync'}) in the bench process; reads are synchronous, so they complete one at a time whatever the in-flight setting", dir: this.dir };
  }

  close(): Promise<void> {
    return this.store.close();
  }
}

class LmdbJs extends InProcess implements KvSystem {
  readonly id = 'lmdb-js' as const;
  readonly revisions = false;
  readonly watches = false;

  constructor(private readonly db: RootDatabase<unknown, Buffer>, dir: string) {
    super(dir);
  }

  async put(key: Buffer, value: Buffer): Promise<number> {
    await this.db.put(key, value);
    await this.db.flushed;
    return 0;
  }

  get(key: Buffer): Buffer | undefined {
    return this.db.getBinary(key);
  }

  range(start: Buffer, end: Buffer, limit: number): number {
    let n = 0;
    for (const _ of this.db.getRange({ start, end, limit })) n++;
    return n;
  }

  watch(): Promise<{ cancel(): void }> {
    return Promise.reject(new Error('lmdb-js has no watches'));
  }

  describe(): Record<string, unknown> {
    return { what: 'lmdb-js open() with default options (msgpack values, overlappingSync on Linux) in the bench process; each put awaits db.put() then db.flushed (on disk); reads (getBinary, getRange) are synchronous', dir: this.dir };
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

class AxisCluster implements KvSystem {
  readonly kind = 'cluster' as const;
  readonly revisions = true;
  readonly serializable = true;
  readonly watches = true;

  constructor(
    readonly id: 'axis-1' | 'axis-3',
    private readonly cluster: LocalCluster,
    private readonly client: Client,
    private readonly started: { leader: string; seconds: number },
    private readonly stopSec: number,
  ) {}

  async put(key: Buffer, value: Buffer): Promise<number> {
    return (await this.client.put(key, value)).revision;
  }

  async get(key: Buffer, o?: ReadOptions): Promise<Buffer | undefined> {
    return (await this.client.get(key, o))?.value;
  }

  async range(start: Buffer, end: Buffer, limit: number, o?: ReadOptions): Promise<number> {
    return (await this.client.range(start, end, { limit, ...o })).kvs.length;
  }

  async watch(prefix: Buffer, onValue: OnValue): Promise<{ cancel(): void }> {
    return consume(this.client.watch(prefix, { prefix: true }), onValue);
  }

  pids(): number[] {
    return this.cluster.members.map((m) => m.pid);
  }

  describe(): Record<string, unknown> {
    return {
      what: `${this.cluster.size} axis serve process(es) on 127.0.0.1, durability sync, default ticks; connect({endpoints: all}) in the bench process (writes to the leader it learns, reads round-robin)`,
      members: this.cluster.members.map((m) => ({ name: m.name, pid: m.pid, client: m.endpoint })),
      leaderAtStart: this.started.leader,
      startSeconds: this.started.seconds,
    };
  }

  async close(): Promise<void> {
    await this.client.close().catch(() => undefined);
    await this.cluster.stop(this.stopSec);
  }
}

class EtcdSystem implements KvSystem {
  readonly id = 'etcd-3' as const;
  readonly kind = 'cluster' as const;
  readonly revisions = true;
  readonly serializable = true;
  readonly watches = true;

  /** `writer` talks to the leader only (etcd's "put to leader" case: no forwarding hop); `reader` to every member. */
  constructor(
    private readonly etcd: EtcdCluster,
    private readonly writer: Etcd3,
    private readonly reader: Etcd3,
    private readonly stopSec: number,
  ) {}

  async put(key: Buffer, value: Buffer): Promise<number> {
    const r = await this.writer.put(key).value(value).exec();
    return Number(r.header.revision);
  }

  get(key: Buffer, o?: ReadOptions): Promise<Buffer | undefined> {
    let b = this.reader.get(key);
    if (o?.serializable) b = b.serializable(true);
    if (o?.revision) b = b.revision(o.revision);
    return b.buffer().then((v) => v ?? undefined);
  }

  async range(start: Buffer, end: Buffer, limit: number, o?: ReadOptions): Promise<number> {
    let b = this.reader.getAll().inRange(new Range(start, end)).limit(limit);
    if (o?.serializable) b = b.serializable(true);
    if (o?.revision) b = b.revision(o.revision);
    return (await b.exec()).kvs.length;
  }

  async watch(prefix: Buffer, onValue: OnValue): Promise<{ cancel(): void }> {
    const w = await this.reader.watch().prefix(prefix).create();
    w.on('put', (kv) => onValue(kv.value as Buffer));
    return { cancel: () => void w.cancel().catch(() => undefined) };
  }

  pids(): number[] {
    return this.etcd.members.map((m) => m.pid);
  }

  describe(): Record<string, unknown> {
    return {
      what: `3 etcd processes on 127.0.0.1 (${this.etcd.version}), default settings (WAL fdatasync per batch); etcd3 npm client: puts through a client on the leader only (no forwarding), reads and watches through one on every member`,
      members: this.etcd.members.map((m) => ({ name: m.name, pid: m.pid, client: m.clientUrl })),
      leaderAtStart: this.etcd.leader,
      startSeconds: this.etcd.seconds,
    };
  }

  async close(): Promise<void> {
    this.writer.close();
    this.reader.close();
    await this.etcd.stop(this.stopSec);
  }
}

export interface SystemSettings {
  startSec: number;
  stopSec: number;
}

/** Starts one system with fresh data under `scratch`. */
export async function startSystem(id: SystemId, scratch: Scratch, log: (line: string) => void, s: SystemSettings): Promise<KvSystem> {
  switch (id) {
    case 'axis-embedded': {
      const dir = scratch.dir('wl-axis');
      return new AxisEmbedded(await openAxis(dir, { durability: 'sync' }), dir);
    }
    case 'lmdb-js': {
      const dir = scratch.dir('wl-lmdb');
      return new LmdbJs(openLmdb<unknown, Buffer>({ path: path.join(dir, 'data.mdb') }), dir);
    }
    case 'axis-1':
    case 'axis-3': {
      let cluster: LocalCluster | undefined;
      try {
        const up = await startCluster(id === 'axis-1' ? 1 : 3, scratch, log, { startSec: s.startSec, onCluster: (c) => (cluster = c) });
        return new AxisCluster(id, up.cluster, up.client, up, s.stopSec);
      } catch (err) {
        await cluster?.stop(s.stopSec);
        throw err;
      }
    }
    case 'etcd-3': {
      const etcd = await startEtcd(scratch, log, s.startSec);
      try {
        const leader = etcd.members.find((m) => m.name === etcd.leader)!;
        const writer = new Etcd3({ hosts: [leader.clientUrl] });
        const reader = new Etcd3({ hosts: etcd.members.map((m) => m.clientUrl) });
        return new EtcdSystem(etcd, writer, reader, s.stopSec);
      } catch (err) {
        await etcd.stop(s.stopSec);
        throw err;
      }
    }
  }
}
