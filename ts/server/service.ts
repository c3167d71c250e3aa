/**
 * The client API of one member: decodes a request frame, runs it (writes through Raft, reads
 * after a ReadIndex barrier unless serializable), and encodes the reply. Every failure becomes an
 * error reply with a stable code; nothing a client sends can stop the member.
 */
import { AxisError, ErrorCode, isAxisError } from '../errors/index.js';
import {
  API_VERSION, MAX_REQUEST_BYTES, type PbReply, type PbRequest, buf, decodeRequest, endFromPb, eventsToPb, peekRequestId,
  putFromPb, rangeOptionsFromPb, requestBody, txnFromPb, txnResultToPb,
} from '../proto/api.js';
import { type WriteRequest, decodeWriteResult, encodeWrite, prepareAlarm, randomLeaseId } from '../storage/index.js';
import { AXIS_VERSION } from '../version.js';
import { prepareWrite } from '../storage/write-request.js';
import type { WatchFilter, WatchHub, WatchResponse } from '../storage/watch.js';
import type { DeleteResult, Event, PutResult, TxnResult } from '../storage/types.js';
import { type ClientLimits, DEFAULT_LIMITS } from './limits.js';
import type { Member } from './member.js';

export { MAX_REQUEST_BYTES };

/**
 * A client connection as the service sees it: where to push a watch's responses, and whether its
 * outbound queue has room (a full one makes the watch fall behind and catch up later).
 */
export interface Peer {
  key: string;
  push(reply: PbReply): boolean;
}

/** A client silent this long (no request, not even a watch's keep-alive) loses its watches. */
const PEER_IDLE_MS = 60_000;

function prepareLeaseGrantFor(id: number, ttl: number) {
  return prepareWrite({ leaseGrant: { id, ttl } });
}

export class ApiService {
  hub: WatchHub;
  /** Watches per client connection, and when it was last heard from. */
  private readonly peers = new Map<string, { lastSeen: number; watches: Set<number> }>();
  /** Requests being served, per client connection. */
  private readonly inFlight = new Map<string, number>();
  private readonly sweeper: NodeJS.Timeout;
  readonly limits: Readonly<ClientLimits>;

  constructor(
    private readonly member: Member,
    limits: Partial<ClientLimits> = {},
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    // The store's own hub: it hears of every commit, applied entries included.
    this.hub = member.store.watches();
    // A snapshot installed here replaced the store: its watches were cancelled (their clients go
    // on from where they were), new ones use the new store's hub.
    member.onStoreReplaced(() => {
      this.hub = member.store.watches();
      for (const p of this.peers.values()) p.watches.clear();
    });
    this.sweeper = setInterval(() => this.sweep(), PEER_IDLE_MS / 4);
    this.sweeper.unref();
  }

  /** Cancels this service's watches (the member is stopping: their clients move elsewhere). */
  close(): void {
    clearInterval(this.sweeper);
    for (const p of this.peers.values()) for (const id of p.watches) this.hub.cancel(id, 'the member is stopping');
    this.peers.clear();
  }

  private sweep(): void {
    const now = Date.now();
    for (const [key, p] of this.peers) if (now - p.lastSeen >= PEER_IDLE_MS) this.forget(key, 'the client went quiet');
  }

  /** The client behind `key` is gone (or went quiet): its watches go. */
  forget(key: string, reason: string): void {
    const p = this.peers.get(key);
    if (!p) return;
    this.peers.delete(key);
    for (const id of p.watches) this.hub.cancel(id, reason);
  }

  /** The client behind `key` has room for watch responses again: its watches catch up. */
  resume(key: string): void {
    for (const id of this.peers.get(key)?.watches ?? []) this.hub.resume(id);
  }

  /** One request frame in, one reply frame's message out (never throws). */
  async handle(frame: Uint8Array, peer?: Peer): Promise<PbReply> {
    let id = 0;
    try {
      if (frame.length > MAX_REQUEST_BYTES) {
        id = peekRequestId(frame);
        throw new AxisError(ErrorCode.REQUEST_TOO_LARGE, `request of ${frame.length} bytes exceeds the ${MAX_REQUEST_BYTES}-byte limit`);
      }
      let req: PbRequest;
      try {
        req = decodeRequest(frame);
      } catch (err) {
        id = peekRequestId(frame);
        throw err;
      }
      id = req.id;
      if (peer) {
        const p = this.peers.get(peer.key);
        if (p) p.lastSeen = Date.now();
      }
      const reply = await this.served(peer, () => this.run(req, peer));
      reply.version = API_VERSION;
      reply.id = id;
      reply.header = this.header();
      return reply;
    } catch (err) {
      let e = isAxisError(err) ? err : new AxisError(ErrorCode.INTERNAL, (err as Error)?.message ?? String(err));
      // The store closed under a request: the member is stopping, or installing a snapshot. Either way, ask another.
      if (e.code === ErrorCode.CLOSED) e = new AxisError(ErrorCode.UNAVAILABLE, `member ${this.member.config.name} is not serving for a moment: ${e.message}`);
      if (!isAxisError(err)) this.member.log.error({ err }, `request failed: ${(err as Error)?.message ?? String(err)}`);
      return { version: API_VERSION, id, header: this.safeHeader(), error: { code: e.code, message: e.message } };
    }
  }

  /** Runs `f` as one of the requests `peer` has in flight, refused past its limit. */
  private async served<T>(peer: Peer | undefined, f: () => Promise<T>): Promise<T> {
    if (!peer) return f();
    const n = this.inFlight.get(peer.key) ?? 0;
    if (n >= this.limits.inFlightPerClient) {
      throw new AxisError(ErrorCode.TOO_MANY_REQUESTS, `this connection has ${n} requests being served, the most one client may have (${this.limits.inFlightPerClient}): wait for answers before sending more`);
    }
    this.inFlight.set(peer.key, n + 1);
    try {
      return await f();
    } finally {
      const left = (this.inFlight.get(peer.key) ?? 1) - 1;
      if (left > 0) this.inFlight.set(peer.key, left);
      else this.inFlight.delete(peer.key);
    }
  }

  /** History and change reads have no byte bound of their own: refused once read, if too large. */
  private fits(events: Event[], what: string): Event[] {
    let bytes = 0;
    for (const e of events) bytes += e.kv.key.length + e.kv.value.length + 48;
    if (bytes > this.limits.replyBytes) {
      throw new AxisError(ErrorCode.RESPONSE_TOO_LARGE, `${what} holds ${bytes} bytes, more than the ${this.limits.replyBytes} an answer may: ask for fewer revisions`);
    }
    return events;
  }

  private listing(about?: number): NonNullable<PbReply['memberList']> {
    const members = this.member.memberListing();
    const m = about === undefined ? undefined : members.find((x) => x.id === about);
    return { clusterId: this.member.clusterId, members, ...(m ? { member: m } : {}) };
  }

  private header(): NonNullable<PbReply['header']> {
    return {
      clusterId: this.member.clusterId,
      memberId: this.member.id,
      revision: this.member.store.revision(),
      raftTerm: this.member.term,
      leader: this.member.leaderId,
    };
  }

  private safeHeader(): PbReply['header'] {
    try {
      return this.header();
    } catch {
      return { clusterId: this.member.clusterId, memberId: this.member.id, revision: 0, raftTerm: 0, leader: 0 };
    }
  }

  private async read(serializable: boolean | undefined): Promise<void> {
    if (!serializable) await this.member.readBarrier();
  }

  private async write<T>(req: PbRequest, w: WriteRequest): Promise<T> {
    const body = encodeWrite(w); // validates: bad input is refused before it reaches the log
    const result = await this.member.propose(body, req.client ? { client: req.client, seq: req.seq ?? 0, acked: req.acked ?? 0 } : undefined);
    return decodeWriteResult(w, result) as T;
  }

  private watchReply(id: number, r: WatchResponse): PbReply {
    return {
      version: API_VERSION,
      id,
      header: this.safeHeader(),
      watch: {
        watchId: r.watchId,
        events: r.events.map((e) => ({ type: e.type, kv: e.kv, ...(e.prevKv ? { prevKv: e.prevKv } : {}) })),
        revision: r.revision,
        ...(r.canceled ? { canceled: true } : {}),
        ...(r.compactRevision ? { compactRevision: r.compactRevision } : {}),
        ...(r.cancelReason ? { cancelReason: r.cancelReason } : {}),
      },
    };
  }

  private owned(peer: Peer | undefined, watchId: number): boolean {
    return peer !== undefined && (this.peers.get(peer.key)?.watches.has(watchId) ?? false);
  }

  private async run(req: PbRequest, peer?: Peer): Promise<PbReply> {
    const store = this.member.store;
    const kind = requestBody(req);
    const reply = { version: API_VERSION, id: req.id } as PbReply;
    switch (kind) {
      case 'get': {
        const g = req.get!;
        await this.read(g.serializable);
        const kv = await store.get(buf(g.key), g.revision ? { revision: g.revision } : undefined);
        reply.get = kv ? { kv } : {};
        return reply;
      }
      case 'range': {
        const r = req.range!;
        await this.read(r.serializable);
        const options = { ...rangeOptionsFromPb(r.options), maxBytes: this.limits.replyBytes };
        reply.range = r.prefix
          ? await store.prefix(buf(r.key), options)
          : await store.range(buf(r.key), endFromPb(r.rangeEnd, r.endKind) ?? null, options);
        return reply;
      }
      case 'history': {
        const h = req.history!;
        await this.read(h.serializable);
        const events = await store.history(buf(h.key), { ...(h.from ? { from: h.from } : {}), ...(h.to ? { to: h.to } : {}) });
        reply.history = { events: eventsToPb(this.fits(events, "the key's history")) };
        return reply;
      }
      case 'changes': {
        const c = req.changes!;
        await this.read(c.serializable);
        const r = await store.changes(c.from, { ...(c.to ? { to: c.to } : {}), ...(c.limit ? { limit: c.limit } : {}) });
        reply.changes = { ...r, events: eventsToPb(this.fits(r.events, 'the change log')) };
        return reply;
      }
      case 'put': {
        const { key, value, ...options } = putFromPb(req.put!);
        reply.put = await this.write<PutResult>(req, { put: { key, value, options } });
        return reply;
      }
      case 'deleteRange': {
        const d = req.deleteRange!;
        const end = endFromPb(d.rangeEnd, d.endKind);
        const options = d.prevKv ? { prevKv: true } : {};
        reply.deleteRange = await this.write<DeleteResult>(
          req,
          end === undefined ? { delete: { key: buf(d.key), options } } : { deleteRange: { start: buf(d.key), end, options } },
        );
        return reply;
      }
      case 'txn': {
        reply.txn = txnResultToPb(await this.write<TxnResult>(req, { txn: txnFromPb(req.txn!) }));
        return reply;
      }
      case 'compact': {
        const c = req.compact!;
        const r = await this.write<{ revision: number }>(req, { compact: { revision: c.revision } });
        if (c.physical) await store.waitCompaction(c.revision);
        reply.compact = { revision: r.revision };
        return reply;
      }
      case 'status': {
        const s = this.member.status();
        const st = store.status();
        const self = s.members.find((m) => m.id === s.id);
        reply.status = {
          member: { id: s.id, name: s.name, peerUrl: self?.peerUrl ?? '', clientUrl: this.member.config.clientListen },
          members: s.members.map((m) => ({ id: m.id, name: m.name, peerUrl: m.peerUrl, clientUrl: m.clientUrl, learner: m.learner })),
          leader: s.leader,
          raftTerm: s.term,
          commitIndex: s.commitIndex,
          appliedIndex: s.appliedIndex,
          role: s.role,
          revision: st.revision,
          compactRevision: st.compactRevision,
          dbSize: st.dbSize,
          dbSizeInUse: st.dbSizeInUse,
          learner: s.learner,
          raftIndex: s.lastIndex,
          alarms: store.alarms().map((a) => ({ type: a.type, member: a.member })),
          version: AXIS_VERSION,
        };
        return reply;
      }
      case 'memberList':
        await this.member.readBarrier();
        reply.memberList = this.listing();
        return reply;
      case 'memberAdd': {
        const a = req.memberAdd!;
        const m = await this.member.addMember({ name: a.name, peerUrl: a.peerUrl, ...(a.clientUrl ? { clientUrl: a.clientUrl } : {}), learner: a.learner ?? false });
        reply.memberAdd = this.listing(m.id);
        return reply;
      }
      case 'memberRemove': {
        const m = await this.member.removeMember(req.memberRemove!.id);
        reply.memberRemove = { ...this.listing(), member: { ...m, learner: false } };
        return reply;
      }
      case 'memberPromote': {
        const m = await this.member.promoteMember(req.memberPromote!.id);
        reply.memberPromote = this.listing(m.id);
        return reply;
      }
      case 'memberUpdate': {
        const u = req.memberUpdate!;
        const m = await this.member.updateMember(u.id, { ...(u.peerUrl ? { peerUrl: u.peerUrl } : {}), ...(u.clientUrl ? { clientUrl: u.clientUrl } : {}) });
        reply.memberUpdate = this.listing(m.id);
        return reply;
      }
      case 'hashKv': {
        await this.member.readBarrier();
        const h = await store.hashKv(req.hashKv!.revision ?? 0);
        reply.hashKv = { hash: h.hash, revision: h.revision, compactRevision: h.compactRevision };
        return reply;
      }
      case 'alarmList':
        await this.member.readBarrier();
        reply.alarmList = { alarms: store.alarms() };
        return reply;
      case 'alarmDisarm': {
        const d = req.alarmDisarm!;
        if (d.type && d.type !== 'NOSPACE' && d.type !== 'CORRUPT') throw new AxisError(ErrorCode.INVALID_ARGUMENT, `an alarm is NOSPACE or CORRUPT, not ${d.type}`);
        await this.member.readBarrier();
        for (const a of store.alarms()) {
          if ((d.type && a.type !== d.type) || (d.member && a.member !== d.member)) continue;
          await this.member.proposeWrite(prepareAlarm(false, a.type, a.member));
        }
        reply.alarmDisarm = { alarms: this.member.store.alarms() };
        return reply;
      }
      case 'moveLeader':
        reply.moveLeader = { leader: await this.member.moveLeader(req.moveLeader!.target) };
        return reply;
      case 'snapshotRead': {
        const r = req.snapshotRead!;
        const c = r.id ? await this.member.snapshots.read(r.id, r.offset ?? 0) : await this.member.snapshots.latest().then((i) => this.member.snapshots.read(i.id, 0));
        reply.snapshotRead = { id: c.info.id, size: c.info.size, offset: r.id ? (r.offset ?? 0) : 0, data: c.data, index: c.info.index, term: c.info.term, revision: c.info.revision };
        return reply;
      }
      case 'watchCreate': {
        if (!peer) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'watches need a connection to push to');
        const w = req.watchCreate!;
        // From a given revision: first apply what the cluster committed (a ReadIndex round), so a
        // watch resumed here after another member showed it later revisions never goes back before
        // them, and one from a revision compacted anywhere is cancelled here too.
        if (w.startRevision) await this.member.readBarrier();
        const end = endFromPb(w.rangeEnd, w.endKind);
        const p = this.peers.get(peer.key) ?? { lastSeen: Date.now(), watches: new Set<number>() };
        if (p.watches.size >= this.limits.watchesPerClient) {
          throw new AxisError(ErrorCode.TOO_MANY_WATCHES, `this connection holds ${p.watches.size} watches, the most one client may (${this.limits.watchesPerClient}): cancel some, or watch a prefix or a range instead of many keys`);
        }
        if (this.hub.size >= this.limits.watches) {
          throw new AxisError(ErrorCode.TOO_MANY_WATCHES, `member ${this.member.config.name} holds ${this.hub.size} watches, the most it may (${this.limits.watches}): watch through another member`);
        }
        const requestId = req.id;
        const watchId = this.hub.watch(
          buf(w.key),
          {
            ...(w.prefix ? { prefix: true } : end !== undefined ? { end } : {}),
            ...(w.startRevision ? { startRevision: w.startRevision } : {}),
            ...(w.prevKv ? { prevKv: true } : {}),
            ...(w.filters && w.filters.length ? { filters: w.filters as WatchFilter[] } : {}),
            ...(w.progressNotify ? { progressNotify: true } : {}),
          },
          (r) => {
            if (r.canceled) this.peers.get(peer.key)?.watches.delete(r.watchId);
            return peer.push(this.watchReply(requestId, r));
          },
        );
        p.watches.add(watchId);
        this.peers.set(peer.key, p);
        reply.watch = { watchId, created: true, revision: store.revision() };
        return reply;
      }
      case 'watchCancel': {
        const watchId = req.watchCancel!.watchId;
        if (!this.owned(peer, watchId)) throw new AxisError(ErrorCode.WATCH_NOT_FOUND, `no watch ${watchId} on this connection`);
        this.hub.cancel(watchId);
        reply.watch = { watchId, canceled: true, revision: store.revision() };
        return reply;
      }
      case 'watchProgress': {
        const watchId = req.watchProgress!.watchId;
        if (!this.owned(peer, watchId)) throw new AxisError(ErrorCode.WATCH_NOT_FOUND, `no watch ${watchId} on this connection (cancelled, or this member restarted)`);
        this.hub.requestProgress(watchId);
        reply.watch = { watchId, revision: store.revision() };
        return reply;
      }
      case 'leaseGrant': {
        const g = req.leaseGrant!;
        // etcd's minimum: a lease must outlive an election, or it could expire while clients look for the leader.
        const minTtl = Math.ceil((1.5 * this.member.electionTimeoutMs) / 1000);
        const ttl = Math.max(g.ttl, minTtl);
        if (g.id) {
          await this.write(req, { leaseGrant: { id: g.id, ttl } });
          reply.leaseGrant = { id: g.id, ttl };
          return reply;
        }
        // An id of our choosing: proposed under this member's own identity, so that another id after
        // a clash is a new write, not a retry of the first.
        for (let attempt = 0; ; attempt++) {
          const id = randomLeaseId();
          try {
            await this.member.proposeWrite(prepareLeaseGrantFor(id, ttl));
            reply.leaseGrant = { id, ttl };
            return reply;
          } catch (err) {
            if (!isAxisError(err, ErrorCode.LEASE_EXISTS) || attempt >= 8) throw err;
          }
        }
      }
      case 'leaseRevoke': {
        const r = await this.write<{ revision: number; deleted: number }>(req, { leaseRevoke: { id: req.leaseRevoke!.id } });
        reply.leaseRevoke = { revision: r.revision, deleted: r.deleted };
        return reply;
      }
      case 'leaseKeepAlive': {
        const id = req.leaseKeepAlive!.id;
        if (this.member.leaseExpired(id)) throw new AxisError(ErrorCode.LEASE_NOT_FOUND, `lease ${id} has expired`);
        // Through Raft: the leader learns of it wherever it was asked, and the checkpoint is cleared.
        const r = await this.write<{ ttl: number }>(req, { leaseRenew: { id } });
        reply.leaseKeepAlive = { id, ttl: r.ttl };
        return reply;
      }
      case 'leaseTimeToLive': {
        const t = req.leaseTimeToLive!;
        await this.member.readBarrier();
        // Every member counts each lease down from what it applied (see Lessor): a follower's answer
        // trails the leader's by its apply lag, and misses the grace a new leader adds.
        const left = this.member.leaseRemainingMs(t.id);
        const info = store.leaseTimeToLive(t.id, { keys: t.keys ?? false });
        reply.leaseTimeToLive = {
          id: t.id,
          ttl: info.ttl,
          remaining: left === undefined ? info.remaining : Math.max(0, Math.floor(left / 1000)),
          ...(t.keys ? { keys: info.keys ?? [] } : {}),
        };
        return reply;
      }
      case 'leaseLeases': {
        await this.member.readBarrier();
        reply.leaseLeases = { ids: store.leases().map((l) => l.id) };
        return reply;
      }
      default:
        throw new AxisError(ErrorCode.MALFORMED_REQUEST, 'a request of no kind this member knows');
    }
  }
}
