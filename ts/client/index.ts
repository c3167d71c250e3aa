/**
 * The cluster client: the same `KV` interface as the embedded store, over ZeroMQ to any member.
 *
 * - Writes go to the leader when it is known (any member forwards them otherwise); reads are
 *   spread over the members and are linearizable unless `serializable` is asked for.
 * - A call that fails for a reason another member may not have (unreachable, no leader, a timeout)
 *   is retried on the next member until its deadline. A write keeps its (client, seq) identity
 *   across retries, so the cluster applies it once.
 */
import { Dealer } from 'zeromq';
import { AxisError, ErrorCode } from '../errors/index.js';
import {
  API_VERSION, MAX_REQUEST_BYTES, type PbAlarm, type PbMember, type PbMemberList, type PbReply, type PbRequest, type PbStatus, bytesOf, changesFromPb, decodeReply, deleteResultFromPb,
  buf, encodeRequest, endToPb, eventsFromPb, joinFrame, kvFromPb, splitFrame, putResultFromPb, putToPb, rangeOptionsToPb, rangeResultFromPb,
  txnResultFromPb, txnToPb,
} from '../proto/api.js';
import type {
  Bytes, ChangesOptions, ChangesResult, CompactOptions, DeleteOptions, DeleteResult, Event, HistoryOptions, KV, KeyValue,
  PutOptions, PutResult, RangeOptions, RangeResult, ReadOptions, TxnRequest, TxnResult,
} from '../storage/types.js';
import { checkCount, checkKey, checkRange, checkRangeOptions, checkTxn, toBuffer } from '../storage/validate.js';
import type { WatchOptions } from '../storage/watch.js';
import { ClientWatch, type WatchConnection } from './watch.js';
import { type CurveKeys, curveKeys, type KeyFileContent, secureClient } from '../security/index.js';

export { ClientWatch } from './watch.js';
export { Election, Mutex, Session, type Held } from './concurrency.js';
import { Mutex, Session, type Held } from './concurrency.js';

export interface MemberListing {
  clusterId: number;
  members: { id: number; name: string; peerUrl: string; clientUrl: string; learner: boolean }[];
  /** The member the request was about (added, removed, promoted, updated). */
  member?: { id: number; name: string; peerUrl: string; clientUrl: string; learner: boolean };
}

function alarms(list: PbAlarm[] | undefined): { type: 'NOSPACE' | 'CORRUPT'; member: number }[] {
  return (list ?? []).map((a) => ({ type: a.type === 'NOSPACE' ? 'NOSPACE' : 'CORRUPT', member: a.member }));
}

function listing(r: PbMemberList | null | undefined): MemberListing {
  // Field by field: protobufjs leaves defaults on the prototype.
  const m = (x: PbMember) => ({ id: x.id, name: x.name, peerUrl: x.peerUrl, clientUrl: x.clientUrl, learner: x.learner ?? false });
  return { clusterId: r?.clusterId ?? 0, members: (r?.members ?? []).map(m), ...(r?.member ? { member: m(r.member) } : {}) };
}

export interface ConnectOptions {
  /** Members' client endpoints, e.g. ['tcp://127.0.0.1:2379']. */
  endpoints: string[];
  /** How long one attempt at one member may take before trying the next (default 3 s). */
  attemptTimeoutMs?: number;
  /** How long a call may take over all its attempts (default 15 s). */
  timeoutMs?: number;
  /** How often a watch checks that its member still serves it (default 5 s). */
  watchKeepAliveMs?: number;
  /** Responses a watch holds unread before it steps back to catch-up (default 1000). */
  watchMaxBuffered?: number;
  /**
   * CURVE: this client's key pair and the members' public key (serverKey), as Z85 strings, or keys
   * read with readKeyFile(file, 'client'). Needed when the members run with --client-keys.
   */
  curve?: Required<Pick<KeyFileContent, 'publicKey' | 'secretKey' | 'serverKey'>> | CurveKeys;
}

/** Reads take `serializable: true` to answer from the member's local state (may be stale). */
export interface ClientReadOptions extends ReadOptions {
  serializable?: boolean;
}
export interface ClientRangeOptions extends RangeOptions {
  serializable?: boolean;
}

export interface MemberStatusReport extends Omit<PbStatus, 'member' | 'members' | 'alarms' | 'raftIndex' | 'version'> {
  endpoint: string;
  raftIndex: number;
  alarms: { type: 'NOSPACE' | 'CORRUPT'; member: number }[];
  version: string;
  member: { id: number; name: string; peerUrl: string; clientUrl: string };
  members: { id: number; name: string; peerUrl: string; clientUrl: string }[];
}

/** Requests of one turn share a frame up to this size (a larger request goes alone). */
const MAX_FRAME_BYTES = 1024 * 1024;

/** Errors worth trying at another member (or again): the request may not have been served. */
const RETRYABLE = new Set<string>([
  ErrorCode.UNAVAILABLE, ErrorCode.NO_LEADER, ErrorCode.NOT_LEADER, ErrorCode.TIMEOUT, ErrorCode.TRANSFER_IN_PROGRESS,
  ErrorCode.TOO_MANY_REQUESTS,
]);

interface Waiting {
  resolve(r: PbReply): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

/** One member's connection: a DEALER, its replies matched to requests by id. */
/** How long a member that did not answer is passed over by the round robin. */
const QUIET_MS = 2000;

class Connection implements WatchConnection {
  private socket: Dealer | undefined;
  private readonly waiting = new Map<number, Waiting>();
  /** Requests answered more than once (watches): every reply with their id goes to the handler. */
  private readonly streams = new Map<number, (r: PbReply) => void>();
  private readonly out: Buffer[] = [];
  private sending = false;
  private nextId = 1;
  private closed = false;
  memberId = 0;
  /** Did not answer in time: skipped by the round robin until then (unless every member is). */
  quietUntil = 0;
  /** The member turned this client's key away (the last time it was asked). */
  refusal: AxisError | undefined;

  constructor(
    readonly endpoint: string,
    private readonly curve?: CurveKeys,
  ) {}

  private open(): Dealer {
    if (this.socket) return this.socket;
    const s = new Dealer();
    s.linger = 0;
    // Queue only towards a live connection: a request must not sit in a queue and reach a member
    // long after the caller gave up on it.
    s.immediate = true;
    s.sendHighWaterMark = 10000;
    s.receiveHighWaterMark = 10000;
    s.reconnectInterval = 100;
    s.reconnectMaxInterval = 1000;
    if (this.curve) secureClient(s, this.curve, () => this.refused(s));
    s.connect(this.endpoint);
    this.socket = s;
    void this.receive(s);
    return s;
  }

  private async receive(s: Dealer): Promise<void> {
    try {
      for await (const [frame] of s) {
        if (!frame) continue;
        let replies: Uint8Array[];
        try {
          replies = splitFrame(frame);
        } catch {
          continue; // not answers we can read: their requests time out and are retried
        }
        for (const bytes of replies) {
          let reply: PbReply;
          try {
            reply = decodeReply(bytes);
          } catch {
            continue;
          }
          const stream = this.streams.get(reply.id);
          if (stream) {
            stream(reply);
            continue;
          }
          this.refusal = undefined;
          const w = this.waiting.get(reply.id);
          if (!w) continue;
          this.waiting.delete(reply.id);
          clearTimeout(w.timer);
          w.resolve(reply);
        }
      }
    } catch {
      // closed
    }
  }

  request(req: PbRequest, timeoutMs: number): Promise<PbReply> {
    if (this.closed) return Promise.reject(new AxisError(ErrorCode.CLOSED, 'the client is closed'));
    const id = this.nextId++;
    req.id = id;
    const frame = encodeRequest(req);
    // The member would refuse it, or (past its frame limit) drop the connection without an answer.
    if (frame.length > MAX_REQUEST_BYTES) {
      return Promise.reject(new AxisError(ErrorCode.REQUEST_TOO_LARGE, `request of ${frame.length} bytes exceeds the ${MAX_REQUEST_BYTES}-byte limit`));
    }
    this.open();
    return new Promise<PbReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        // Drop what may still sit in the socket's queue: start over with a fresh one.
        this.reset();
        reject(new AxisError(ErrorCode.TIMEOUT, `no answer from ${this.endpoint} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, { resolve, reject, timer });
      this.out.push(frame);
      // The first request goes at once; those queued while a send is in flight go together.
      if (!this.sending) void this.drain();
    });
  }

  /** Sends a request whose replies keep coming (a watch); returns its id, to `closeStream` later. */
  openStream(req: PbRequest, handler: (r: PbReply) => void): number {
    if (this.closed) throw new AxisError(ErrorCode.CLOSED, 'the client is closed');
    const id = this.nextId++;
    req.id = id;
    const frame = encodeRequest(req);
    this.open();
    this.streams.set(id, handler);
    this.out.push(frame);
    if (!this.sending) void this.drain();
    return id;
  }

  closeStream(id: number): void {
    this.streams.delete(id);
  }

  private async drain(): Promise<void> {
    this.sending = true;
    try {
      while (this.out.length > 0 && this.socket) {
        let bytes = 0;
        let n = 0;
        while (n < this.out.length && (n === 0 || bytes + this.out[n]!.length <= MAX_FRAME_BYTES)) bytes += this.out[n++]!.length;
        const frame = joinFrame(this.out.splice(0, n));
        const s = this.socket;
        try {
          await s.send(frame);
        } catch {
          // A socket reset or closed under the send: its request times out and is retried.
        }
      }
    } finally {
      this.sending = false;
    }
  }

  /** The member refused our key: what waits fails now (not retryable), and the socket starts over. */
  private refused(s: Dealer): void {
    if (s !== this.socket) return;
    this.refusal = new AxisError(ErrorCode.UNAUTHENTICATED, `${this.endpoint} refused this client's key (not in the member's authorized list)`);
    for (const w of this.waiting.values()) {
      clearTimeout(w.timer);
      w.reject(this.refusal);
    }
    this.waiting.clear();
    this.reset();
  }

  private reset(): void {
    const s = this.socket;
    this.socket = undefined;
    this.out.length = 0;
    s?.close();
  }

  close(): void {
    this.closed = true;
    for (const w of this.waiting.values()) {
      clearTimeout(w.timer);
      w.reject(new AxisError(ErrorCode.CLOSED, 'the client is closed'));
    }
    this.waiting.clear();
    this.streams.clear();
    this.reset();
  }
}

function randomId(): number {
  return Math.floor(Math.random() * (2 ** 52 - 1)) + 1;
}

export class Client implements KV {
  private readonly conns: Connection[];
  private leader: Connection | undefined;
  private next = 0;
  private readonly clientId = randomId();
  private seq = 0;
  /** Seqs of writes still waiting for their answer (the rest the cluster may forget). */
  private readonly outstanding = new Set<number>();
  private closed = false;
  private readonly attemptTimeout: number;
  private readonly timeout: number;
  private readonly watchKeepAlive: number;
  private readonly watchMaxBuffered: number;
  private watchIds = 0;
  private readonly watches = new Set<ClientWatch>();

  /** Use `connect()`. */
  constructor(options: ConnectOptions) {
    if (!options || !Array.isArray(options.endpoints) || options.endpoints.length === 0) {
      throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'connect needs at least one endpoint');
    }
    for (const e of options.endpoints) {
      if (typeof e !== 'string' || !/^tcp:\/\/.+:\d+$/.test(e)) throw new AxisError(ErrorCode.INVALID_ARGUMENT, `endpoint ${JSON.stringify(e)} must look like tcp://127.0.0.1:2379`);
    }
    const curve = options.curve === undefined ? undefined : curveKeys(options.curve, 'client', 'connect option curve');
    this.conns = [...new Set(options.endpoints)].map((e) => new Connection(e, curve));
    this.attemptTimeout = options.attemptTimeoutMs ?? 3000;
    this.timeout = options.timeoutMs ?? 15000;
    this.watchKeepAlive = options.watchKeepAliveMs ?? 5000;
    this.watchMaxBuffered = options.watchMaxBuffered ?? 1000;
  }

  get endpoints(): string[] {
    return this.conns.map((c) => c.endpoint);
  }

  /** Every member refused this client's key: connect() says so rather than wait for its timeout. */
  get refusal(): AxisError | undefined {
    return this.conns.every((c) => c.refusal) ? this.conns[0]!.refusal : undefined;
  }

  /** Sends a request, retrying on other members while it may not have been served. */
  private async call(req: Omit<PbRequest, 'version' | 'id'>, write: boolean): Promise<PbReply> {
    if (this.closed) throw new AxisError(ErrorCode.CLOSED, 'the client is closed');
    const deadline = Date.now() + this.timeout;
    let last: Error | undefined;
    for (let attempt = 0; ; attempt++) {
      const conn = write && this.leader && attempt === 0 ? this.leader : this.pick();
      const left = deadline - Date.now();
      if (left <= 0) break;
      try {
        const reply = await conn.request({ ...req, version: API_VERSION, id: 0 }, Math.min(this.attemptTimeout, left));
        conn.quietUntil = 0;
        this.learn(conn, reply);
        if (reply.error) {
          const err = new AxisError(reply.error.code as ErrorCode, reply.error.message);
          if (!RETRYABLE.has(reply.error.code)) throw err;
          last = err;
          if (conn === this.leader) this.leader = undefined;
        } else {
          return reply;
        }
      } catch (err) {
        if (!(err instanceof AxisError) || !RETRYABLE.has(err.code)) throw err;
        last = err;
        if (conn === this.leader) this.leader = undefined;
        // No answer at all (a member down, or unreachable): let the others take the reads a while.
        conn.quietUntil = Date.now() + QUIET_MS;
      }
      if (this.closed) throw new AxisError(ErrorCode.CLOSED, 'the client is closed');
      // Back off a little once every member has been tried (e.g. an election is under way).
      if ((attempt + 1) % this.conns.length === 0) await new Promise((r) => setTimeout(r, Math.min(50 * (attempt + 1), 500, Math.max(0, deadline - Date.now()))));
    }
    throw new AxisError(ErrorCode.UNAVAILABLE, `no member answered in ${this.timeout} ms${last ? ` (last: ${last.message})` : ''}`);
  }

  /** The next member, round robin: reads spread over the members, retries move on. */
  private pick(): Connection {
    const now = Date.now();
    for (let i = 0; i < this.conns.length; i++) {
      const c = this.conns[this.next++ % this.conns.length]!;
      if (c.quietUntil <= now) return c;
    }
    return this.conns[this.next++ % this.conns.length]!;
  }

  /** Remembers which member is which and who leads, from a reply's header. */
  private learn(conn: Connection, reply: PbReply): void {
    const h = reply.header;
    if (!h) return;
    conn.memberId = h.memberId;
    if (h.leader) {
      const l = this.conns.find((c) => c.memberId === h.leader);
      if (l) this.leader = l;
    }
  }

  private async write(req: Omit<PbRequest, 'version' | 'id' | 'client' | 'seq' | 'acked'>): Promise<PbReply> {
    const seq = ++this.seq;
    this.outstanding.add(seq);
    try {
      let acked = seq;
      for (const s of this.outstanding) if (s < acked) acked = s;
      return await this.call({ ...req, client: this.clientId, seq, acked }, true);
    } finally {
      this.outstanding.delete(seq);
    }
  }

  async get(key: Bytes, options?: ClientReadOptions): Promise<KeyValue | undefined> {
    const r = await this.call({ get: { key: bytesOf(key, 'key'), revision: checkCount(options?.revision, 'revision'), serializable: options?.serializable ?? false } }, false);
    return r.get?.kv ? kvFromPb(r.get.kv) : undefined;
  }

  async range(start: Bytes, end?: Bytes | null, options?: ClientRangeOptions): Promise<RangeResult> {
    const { serializable, ...rest } = options ?? {};
    checkRangeOptions(options === undefined ? undefined : rest);
    const e = endToPb(end === undefined ? null : end);
    const o = rangeOptionsToPb(rest);
    const r = await this.call({ range: { key: bytesOf(start, 'start'), ...e, ...(o ? { options: o } : {}), serializable: serializable ?? false } }, false);
    return rangeResultFromPb(r.range!);
  }

  async prefix(prefix: Bytes, options?: ClientRangeOptions): Promise<RangeResult> {
    const { serializable, ...rest } = options ?? {};
    checkRangeOptions(options === undefined ? undefined : rest);
    const o = rangeOptionsToPb(rest);
    const r = await this.call({ range: { key: bytesOf(prefix, 'prefix'), prefix: true, ...(o ? { options: o } : {}), serializable: serializable ?? false } }, false);
    return rangeResultFromPb(r.range!);
  }

  async history(key: Bytes, options?: HistoryOptions & { serializable?: boolean }): Promise<Event[]> {
    const r = await this.call({ history: { key: bytesOf(key, 'key'), from: checkCount(options?.from, 'from'), to: checkCount(options?.to, 'to'), serializable: options?.serializable ?? false } }, false);
    return eventsFromPb(r.history?.events);
  }

  async changes(fromRevision: number, options?: ChangesOptions & { serializable?: boolean }): Promise<ChangesResult> {
    const r = await this.call({ changes: { from: checkCount(fromRevision, 'fromRevision'), to: checkCount(options?.to, 'to'), limit: checkCount(options?.limit, 'limit'), serializable: options?.serializable ?? false } }, false);
    return changesFromPb(r.changes!);
  }

  async put(key: Bytes, value: Bytes, options?: PutOptions): Promise<PutResult> {
    checkCount(options?.lease, 'lease');
    const r = await this.write({ put: putToPb(key, value, options) });
    return putResultFromPb(r.put!);
  }

  async delete(key: Bytes, options?: DeleteOptions): Promise<DeleteResult> {
    const r = await this.write({ deleteRange: { key: bytesOf(key, 'key'), ...endToPb(undefined), prevKv: options?.prevKv ?? false } });
    return deleteResultFromPb(r.deleteRange!);
  }

  async deleteRange(start: Bytes, end?: Bytes | null, options?: DeleteOptions): Promise<DeleteResult> {
    const r = await this.write({ deleteRange: { key: bytesOf(start, 'start'), ...endToPb(end === undefined ? null : end), prevKv: options?.prevKv ?? false } });
    return deleteResultFromPb(r.deleteRange!);
  }

  async txn(request: TxnRequest): Promise<TxnResult> {
    checkTxn(request); // the member checks again; this answers bad input without a round trip
    const r = await this.write({ txn: txnToPb(request) });
    return txnResultFromPb(r.txn!);
  }

  async compact(revision: number, options?: CompactOptions): Promise<{ revision: number }> {
    const r = await this.write({ compact: { revision: checkCount(revision, 'revision'), physical: options?.physical ?? false } });
    return { revision: r.compact!.revision };
  }

  // ---- cluster operations ----

  /** Every member: id, name, peer and client URLs, and whether it is a learner. */
  async memberList(): Promise<MemberListing> {
    return listing((await this.call({ memberList: {} }, false)).memberList);
  }

  /**
   * Adds a member (a learner with `learner: true`: it votes only once promoted). Start it with
   * `axis serve --initial-cluster-state existing --cluster-id <clusterId>` and the members' addresses.
   */
  async memberAdd(m: { name: string; peerUrl: string; clientUrl?: string; learner?: boolean }): Promise<MemberListing> {
    return listing((await this.call({ memberAdd: { name: m.name, peerUrl: m.peerUrl, clientUrl: m.clientUrl ?? '', learner: m.learner ?? false } }, true)).memberAdd);
  }

  /** Removes member `id` (the leader hands leadership over first). */
  async memberRemove(id: number): Promise<MemberListing> {
    return listing((await this.call({ memberRemove: { id: checkCount(id, 'id') } }, true)).memberRemove);
  }

  /** Makes learner `id` a voter; AXIS_LEARNER_NOT_READY until it has caught up. */
  async memberPromote(id: number): Promise<MemberListing> {
    return listing((await this.call({ memberPromote: { id: checkCount(id, 'id') } }, true)).memberPromote);
  }

  /** Changes member `id`'s peer and/or client URL. */
  async memberUpdate(id: number, urls: { peerUrl?: string; clientUrl?: string }): Promise<MemberListing> {
    return listing((await this.call({ memberUpdate: { id: checkCount(id, 'id'), peerUrl: urls.peerUrl ?? '', clientUrl: urls.clientUrl ?? '' } }, true)).memberUpdate);
  }

  /** Hands leadership to voter `target`; the new leader's id. */
  async moveLeader(target: number): Promise<number> {
    return (await this.call({ moveLeader: { target: checkCount(target, 'target') } }, true)).moveLeader!.leader;
  }

  /**
   * The answering member's hash of the key space at `revision` (0: now), once it has applied what
   * the cluster committed. Meant for a client with one endpoint: compare members' hashes.
   */
  async hashKv(revision = 0): Promise<{ hash: string; revision: number; compactRevision: number }> {
    const r = (await this.call({ hashKv: { revision: checkCount(revision, 'revision') } }, false)).hashKv!;
    return { hash: r.hash, revision: r.revision, compactRevision: r.compactRevision };
  }

  /** The cluster's active alarms: NOSPACE (a member passed its quota) or CORRUPT, with the member. */
  async alarmList(): Promise<{ type: 'NOSPACE' | 'CORRUPT'; member: number }[]> {
    return alarms((await this.call({ alarmList: {} }, false)).alarmList?.alarms);
  }

  /** Clears the active alarms of `type` and/or `member` (all without either); the alarms still active. */
  async alarmDisarm(which: { type?: 'NOSPACE' | 'CORRUPT'; member?: number } = {}): Promise<{ type: 'NOSPACE' | 'CORRUPT'; member: number }[]> {
    const r = await this.call({ alarmDisarm: { type: which.type ?? '', member: which.member === undefined ? 0 : checkCount(which.member, 'member') } }, true);
    return alarms(r.alarmDisarm?.alarms);
  }

  /**
   * One chunk of a copy of the answering member's store: `id` 0 makes a new copy. Meant for a
   * client with one endpoint (every chunk of a copy comes from the member that made it).
   */
  async snapshotRead(id: number, offset: number): Promise<{ id: number; size: number; offset: number; data: Buffer; index: number; term: number; revision: number }> {
    const r = (await this.call({ snapshotRead: { id: checkCount(id, 'id'), offset: checkCount(offset, 'offset') } }, false)).snapshotRead!;
    return { id: r.id, size: r.size, offset: r.offset, data: Buffer.from(r.data), index: r.index, term: r.term, revision: r.revision };
  }

  /**
   * Grants a lease of `ttl` seconds (raised to the cluster's minimum, 1.5 election timeouts), with
   * `options.id` or one the cluster picks. Keys put with it are deleted when it is revoked or expires.
   */
  async leaseGrant(ttl: number, options?: { id?: number }): Promise<{ id: number; ttl: number }> {
    const t = checkCount(ttl, 'ttl');
    if (t === 0 || t > 9_000_000_000) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'a lease TTL is 1 to 9,000,000,000 seconds');
    const id = checkCount(options?.id, 'id');
    const r = id ? await this.write({ leaseGrant: { ttl: t, id } }) : await this.call({ leaseGrant: { ttl: t } }, true);
    return { id: r.leaseGrant!.id, ttl: r.leaseGrant!.ttl };
  }

  /** Revokes a lease: its keys are deleted in one revision. */
  async leaseRevoke(id: number): Promise<{ revision: number; deleted: number }> {
    const r = await this.write({ leaseRevoke: { id: checkCount(id, 'id') } });
    return { revision: r.leaseRevoke!.revision, deleted: r.leaseRevoke!.deleted };
  }

  /** Renews a lease once: its full TTL counts again from now. AXIS_LEASE_NOT_FOUND once it is gone. */
  async leaseKeepAlive(id: number): Promise<{ id: number; ttl: number }> {
    const r = await this.write({ leaseKeepAlive: { id: checkCount(id, 'id') } });
    return { id: r.leaseKeepAlive!.id, ttl: r.leaseKeepAlive!.ttl };
  }

  /** A lease's granted TTL and the seconds it has left (the leader's count), with its keys if asked. */
  async leaseTimeToLive(id: number, options?: { keys?: boolean }): Promise<{ id: number; ttl: number; remaining: number; keys?: Buffer[] }> {
    const r = await this.call({ leaseTimeToLive: { id: checkCount(id, 'id'), keys: options?.keys ?? false } }, true);
    const t = r.leaseTimeToLive!;
    return { id: t.id, ttl: t.ttl, remaining: t.remaining, ...(options?.keys ? { keys: (t.keys ?? []).map((k) => buf(k)) } : {}) };
  }

  /** Every lease's id. */
  async leases(): Promise<{ id: number }[]> {
    const r = await this.call({ leaseLeases: {} }, false);
    return (r.leaseLeases?.ids ?? []).map((id) => ({ id }));
  }

  /**
   * Keeps a lease alive until stopped: renews it every third of its TTL. `onLost` hears when it
   * could not (the lease expired or was revoked, or no member answered before it ran out).
   */
  keepAlive(id: number, options: { onLost?: (err: Error) => void } = {}): { stop(): void } {
    checkCount(id, 'id');
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const renew = async () => {
      if (stopped) return;
      try {
        const { ttl } = await this.leaseKeepAlive(id);
        if (!stopped) timer = setTimeout(() => void renew(), Math.max(100, (ttl * 1000) / 3));
      } catch (err) {
        if (stopped) return;
        stopped = true;
        options.onLost?.(err as Error);
      }
    };
    void renew();
    return {
      stop() {
        stopped = true;
        clearTimeout(timer);
      },
    };
  }

  /**
   * Takes the lock `name`, waiting for it: held with a new lease kept alive for `ttl` seconds
   * (default 60), or with `lease`. `revision` is the fencing token (see concurrency.ts);
   * `unlock()` releases it. If this process dies, the lease expires and the lock goes with it.
   */
  async lock(name: string, options: { ttl?: number; lease?: number; signal?: AbortSignal } = {}): Promise<Held & { unlock(): Promise<void> }> {
    const session = await Session.create(this, options);
    const m = new Mutex(session, name);
    try {
      const held = await m.lock(options.signal ? { signal: options.signal } : {});
      return {
        ...held,
        unlock: async () => {
          await m.unlock();
          await session.close();
        },
      };
    } catch (err) {
      await session.close().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Watches a key (or a range, or a prefix) from a start revision (or from now): an async
   * iterable of responses, each with the events of whole revisions in order and the revision up to
   * which everything was delivered. The watch moves to another member by itself if its member
   * stops answering, resuming after the last delivered revision.
   */
  watch(key: Bytes, options: WatchOptions = {}): ClientWatch {
    if (this.closed) throw new AxisError(ErrorCode.CLOSED, 'the client is closed');
    if (typeof options !== 'object' || options === null) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'watch options must be an object');
    let create: ConstructorParameters<typeof ClientWatch>[2];
    if (options.prefix) {
      if (options.end !== undefined) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'a prefix watch takes no end');
      const p = toBuffer(key, 'prefix');
      if (p.length > 0) checkKey(p, 'prefix');
      create = { key: p, prefix: true };
    } else if (options.end !== undefined) {
      const [s, e] = checkRange(key, options.end);
      create = { key: s, ...endToPb(e) };
    } else {
      create = { key: checkKey(key) };
    }
    const filters = options.filters ?? [];
    if (!Array.isArray(filters) || filters.some((f) => f !== 'noPut' && f !== 'noDelete')) {
      throw new AxisError(ErrorCode.INVALID_ARGUMENT, `watch filters are 'noPut' and 'noDelete'`);
    }
    const start = checkCount(options.startRevision, 'startRevision');
    create = {
      ...create,
      ...(start ? { startRevision: start } : {}),
      ...(options.prevKv ? { prevKv: true } : {}),
      ...(filters.length ? { filters } : {}),
      ...(options.progressNotify ? { progressNotify: true } : {}),
    };
    const w = new ClientWatch({ pick: () => this.pick() }, ++this.watchIds, create, { keepAliveMs: this.watchKeepAlive, timeoutMs: this.attemptTimeout, maxBuffered: this.watchMaxBuffered });
    this.watches.add(w);
    return w;
  }

  /** Every reachable member's view of the cluster (unreachable members are left out). */
  async status(): Promise<MemberStatusReport[]> {
    if (this.closed) throw new AxisError(ErrorCode.CLOSED, 'the client is closed');
    const answers = await Promise.all(
      this.conns.map(async (c) => {
        try {
          const r = await c.request({ version: API_VERSION, id: 0, status: {} }, this.attemptTimeout);
          this.learn(c, r);
          if (r.error || !r.status) return undefined;
          const s = r.status;
          // Field by field: protobufjs leaves defaults (0, '', false) on the prototype, which a spread would drop.
          const m = (x: { id: number; name: string; peerUrl: string; clientUrl: string }) => ({ id: x.id, name: x.name, peerUrl: x.peerUrl, clientUrl: x.clientUrl });
          return {
            endpoint: c.endpoint,
            member: m(s.member!),
            members: (s.members ?? []).map(m),
            leader: s.leader,
            raftTerm: s.raftTerm,
            commitIndex: s.commitIndex,
            appliedIndex: s.appliedIndex,
            role: s.role,
            revision: s.revision,
            compactRevision: s.compactRevision,
            dbSize: s.dbSize,
            dbSizeInUse: s.dbSizeInUse,
            learner: s.learner,
            raftIndex: s.raftIndex ?? 0,
            alarms: alarms(s.alarms),
            version: s.version ?? '',
          };
        } catch {
          return undefined;
        }
      }),
    );
    return answers.filter((a): a is MemberStatusReport => a !== undefined);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.watches) w.cancel();
    for (const c of this.conns) c.close();
  }
}

/**
 * A client for the cluster at `endpoints`. Resolves once some member answers (and so tells who
 * leads); AXIS_UNAVAILABLE if none does within the timeout.
 */
export async function connect(options: ConnectOptions): Promise<Client> {
  const c = new Client(options);
  const deadline = Date.now() + (options.timeoutMs ?? 15000);
  for (;;) {
    const s = await c.status();
    if (s.length > 0) return c;
    if (c.refusal) {
      await c.close();
      throw c.refusal;
    }
    if (Date.now() >= deadline) {
      await c.close();
      throw new AxisError(ErrorCode.UNAVAILABLE, `no member answered at ${c.endpoints.join(', ')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
