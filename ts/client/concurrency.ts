/**
 * Locks and elections on leases, transactions and watches, the way etcd's concurrency package
 * builds them.
 *
 * Each contender writes one key under the name's prefix, attached to its session's lease, in a
 * transaction that creates it only if absent. Contenders are ordered by their keys' create
 * revisions: the earliest holds the lock (or leads). Everyone else watches only the key just before
 * its own for deletion, never the whole prefix, so a release wakes one waiter, not all of them.
 * A holder that dies stops renewing its lease; the lease expires and its key goes with it.
 *
 * Fencing: the create revision of the holder's key is handed out as `revision`. It grows with
 * every new holder. A holder can be paused (GC, a stopped VM) past its lease's expiry and wake up
 * still believing it holds the lock while someone else does; a resource that remembers the highest
 * revision it has seen and refuses writes carrying a lower one stays safe even then.
 */
import { AxisError, ErrorCode } from '../errors/index.js';
import type { KeyValue, RangeResult } from '../storage/types.js';
import { prefixEnd } from '../storage/validate.js';
import type { Client } from './index.js';

/** A lease kept alive for as long as the session is open: what locks and elections hang on. */
export class Session {
  private lostError: Error | undefined;
  private closed = false;

  private constructor(
    readonly client: Client,
    readonly lease: number,
    private readonly keeper: { stop(): void } | undefined,
    private readonly owned: boolean,
  ) {}

  /** A new lease of `ttl` seconds (default 60) kept alive, or an existing `lease` (not kept alive here). */
  static async create(client: Client, options: { ttl?: number; lease?: number } = {}): Promise<Session> {
    if (options.lease) return new Session(client, options.lease, undefined, false);
    const { id } = await client.leaseGrant(options.ttl ?? 60);
    let session: Session | undefined;
    const keeper = client.keepAlive(id, {
      onLost: (err) => {
        if (session) session.lostError = err;
      },
    });
    session = new Session(client, id, keeper, true);
    return session;
  }

  /** Why the session's lease was lost (expired, revoked, unreachable), if it was. */
  get lost(): Error | undefined {
    return this.lostError;
  }

  /** Stops renewing and revokes the lease: every key held with it goes at once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.keeper?.stop();
    if (this.owned) {
      try {
        await this.client.leaseRevoke(this.lease);
      } catch (err) {
        if (!(err instanceof AxisError && err.code === ErrorCode.LEASE_NOT_FOUND)) throw err;
      }
    }
  }
}

/** A held lock or leadership: the key written and its create revision (the fencing token). */
export interface Held {
  key: string;
  revision: number;
}

function keyFor(prefix: string, lease: number): string {
  return `${prefix}${lease.toString(16)}`;
}

/** The contender before `revision` under `prefix` (the latest created before it), if any. */
async function predecessor(client: Client, prefix: string, revision: number): Promise<{ kv?: KeyValue; revision: number }> {
  const r: RangeResult = await client.range(prefix, prefixEnd(prefix), {
    maxCreateRevision: revision - 1,
    sort: { target: 'createRevision', order: 'descend' },
    limit: 1,
  });
  return r.kvs[0] ? { kv: r.kvs[0], revision: r.revision } : { revision: r.revision };
}

/** Waits until no key under `prefix` was created before `revision`: each wait watches one key. */
async function waitPredecessors(client: Client, prefix: string, revision: number, signal?: AbortSignal): Promise<void> {
  for (;;) {
    if (signal?.aborted) throw new AxisError(ErrorCode.TIMEOUT, 'gave up waiting');
    const p = await predecessor(client, prefix, revision);
    if (!p.kv) return;
    const w = client.watch(p.kv.key, { startRevision: p.revision + 1, filters: ['noPut'] });
    const onAbort = () => w.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const r of w) {
        if (r.events.some((e) => e.type === 'delete')) break;
        if (r.canceled) break; // compacted past: look again
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      w.cancel();
    }
  }
}

/** Writes our key if absent; its create revision (ours now, or from an earlier attempt). */
async function enter(client: Client, key: string, value: string, lease: number): Promise<{ revision: number; fresh: boolean }> {
  const r = await client.txn({
    compare: [{ key, target: 'createRevision', result: '=', value: 0 }],
    success: [{ put: { key, value, lease } }],
    failure: [{ range: { key } }],
  });
  if (r.succeeded) return { revision: r.revision, fresh: true };
  const got = r.responses[0];
  const kv = got && 'range' in got ? got.range.kvs[0] : undefined;
  if (!kv) throw new AxisError(ErrorCode.INTERNAL, `${key} vanished while entering`);
  return { revision: kv.createRevision, fresh: false };
}

/** A distributed mutex: at most one holder at a time, handed out in the order of asking. */
export class Mutex {
  private held: Held | undefined;
  private readonly prefix: string;

  constructor(private readonly session: Session, name: string) {
    if (typeof name !== 'string' || name.length === 0) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'a lock needs a name');
    this.prefix = name.endsWith('/') ? name : `${name}/`;
  }

  get key(): string {
    return keyFor(this.prefix, this.session.lease);
  }

  /** Waits for the lock (until `signal` aborts); the key and its fencing revision. */
  async lock(options: { signal?: AbortSignal } = {}): Promise<Held> {
    const client = this.session.client;
    const { revision } = await enter(client, this.key, '', this.session.lease);
    try {
      await waitPredecessors(client, this.prefix, revision, options.signal);
      // The session may have expired while we waited: then our key is gone and we hold nothing.
      const mine = await client.get(this.key);
      if (!mine || mine.createRevision !== revision) throw new AxisError(ErrorCode.LEASE_NOT_FOUND, `the session's lease ended while waiting for ${this.prefix}`);
    } catch (err) {
      await client.delete(this.key).catch(() => undefined);
      throw err;
    }
    this.held = { key: this.key, revision };
    return this.held;
  }

  /** Takes the lock only if nobody holds it or waits for it; undefined otherwise. */
  async tryLock(): Promise<Held | undefined> {
    const client = this.session.client;
    const { revision } = await enter(client, this.key, '', this.session.lease);
    const p = await predecessor(client, this.prefix, revision);
    if (p.kv) {
      await client.delete(this.key);
      return undefined;
    }
    this.held = { key: this.key, revision };
    return this.held;
  }

  /** Releases the lock (deletes our key); the next waiter is woken. */
  async unlock(): Promise<void> {
    await this.session.client.delete(this.key);
    this.held = undefined;
  }
}

/** A leader election: one leader at a time, in campaign order, with a value others can observe. */
export class Election {
  private mine: Held | undefined;
  private readonly prefix: string;

  constructor(private readonly session: Session, name: string) {
    if (typeof name !== 'string' || name.length === 0) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'an election needs a name');
    this.prefix = name.endsWith('/') ? name : `${name}/`;
  }

  get key(): string {
    return keyFor(this.prefix, this.session.lease);
  }

  /** Runs for leader with `value`; resolves once elected (the key and its fencing revision). */
  async campaign(value: string, options: { signal?: AbortSignal } = {}): Promise<Held> {
    const client = this.session.client;
    const { revision, fresh } = await enter(client, this.key, value, this.session.lease);
    this.mine = { key: this.key, revision };
    if (!fresh) await this.proclaim(value);
    try {
      await waitPredecessors(client, this.prefix, revision, options.signal);
    } catch (err) {
      await this.resign().catch(() => undefined);
      throw err;
    }
    return this.mine;
  }

  /** The leader announces a new value without giving up leadership. */
  async proclaim(value: string): Promise<void> {
    if (!this.mine) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'not campaigning');
    const r = await this.session.client.txn({
      compare: [{ key: this.mine.key, target: 'createRevision', result: '=', value: this.mine.revision }],
      success: [{ put: { key: this.mine.key, value, lease: this.session.lease } }],
    });
    if (!r.succeeded) throw new AxisError(ErrorCode.NOT_LEADER, `${this.mine.key} is no longer ours (the session ended?)`);
  }

  /** Gives up leadership (or the campaign). */
  async resign(): Promise<void> {
    if (!this.mine) return;
    const m = this.mine;
    this.mine = undefined;
    await this.session.client.txn({
      compare: [{ key: m.key, target: 'createRevision', result: '=', value: m.revision }],
      success: [{ deleteRange: { key: m.key } }],
    });
  }

  /** The current leader's key-value (its value is what it proclaimed), or undefined. */
  static async leader(client: Client, name: string): Promise<KeyValue | undefined> {
    const prefix = name.endsWith('/') ? name : `${name}/`;
    const r = await client.range(prefix, prefixEnd(prefix), { sort: { target: 'createRevision', order: 'ascend' }, limit: 1 });
    return r.kvs[0];
  }

  /**
   * The leader now, then every change of leader or of its value, in order, until the iteration
   * stops: the leader key's puts from the watch, and on its deletion the next leader.
   */
  static async *observe(client: Client, name: string): AsyncGenerator<KeyValue | undefined> {
    const prefix = name.endsWith('/') ? name : `${name}/`;
    const r = await client.range(prefix, prefixEnd(prefix), { sort: { target: 'createRevision', order: 'ascend' }, limit: 1 });
    let current = r.kvs[0];
    yield current;
    const w = client.watch(prefix, { prefix: true, startRevision: r.revision + 1 });
    try {
      for await (const resp of w) {
        for (const e of resp.events) {
          if (current && e.kv.key.equals(current.key)) {
            if (e.kv.modRevision <= current.modRevision) continue; // seen already
            if (e.type === 'put') {
              current = e.kv; // proclaimed
              yield current;
              continue;
            }
            // The leader is gone: the next contender, as of this deletion.
            const next = await client.range(prefix, prefixEnd(prefix), {
              sort: { target: 'createRevision', order: 'ascend' },
              limit: 1,
              revision: e.kv.modRevision,
            });
            current = next.kvs[0];
            yield current;
          } else if (!current && e.type === 'put') {
            current = e.kv; // the first leader
            yield current;
          }
        }
      }
    } finally {
      w.cancel();
    }
  }
}
