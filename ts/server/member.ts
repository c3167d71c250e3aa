/**
 * A cluster member: drives the Raft state machine (ticks from a timer, messages from the
 * transport), persists each Ready before sending what must wait, applies committed entries to
 * the store in the same transaction as the applied index, and answers proposals and linearizable
 * read barriers once their entries are applied here.
 *
 * Apply-once: a client write carries (client, seq); the store's dedup table (replicated state)
 * answers a retry with the first answer. So a proposal that may have been lost (a dropped forward,
 * a leader change) is simply proposed again until it is applied or its deadline passes.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { AxisError, ErrorCode, isAxisError } from '../errors/index.js';
import { Raft } from '../raft/raft.js';
import { DurableStorage, decodeConfState } from '../raft/durable-storage.js';
import type { LogStorage } from '../raft/storage.js';
import { decodeConfChange } from '../raft/confchange.js';
import { type ConfChange, type ConfState, type Entry, EntryType, type Message, MessageType, type NodeId, type Ready, Role, emptyConfState, message } from '../raft/types.js';
import { Decoder, Encoder, LESSOR_DEFAULTS, Lessor, alarmOf, compactionOf, leaseEffect, open, type ApplyEntry, type OpenOptions, type PreparedWrite, type Store } from '../storage/index.js';
import type { Transport, TransportOptions } from '../transport/types.js';
import { type MemberConfig, checkEndpoint, clusterIdOf, memberId } from './config.js';
import { type ConnectOptions, connect } from '../client/index.js';
import { memberAsClient } from '../security/index.js';
import { decodeEntry, encodeEntry } from './entry.js';
import { failpoint } from '../failpoint.js';
import { type Logger, memberLogger } from './logger.js';
import { MemberMetrics } from './metrics.js';
import { type MemberRecord, REMOVED_NOTICE, decodeContext, decodeMembership, encodeContext, encodeMembership, isRemovedNotice } from './membership.js';
import { Maintenance } from './maintenance.js';
import { PeerGate } from './peer-gate.js';
import { type ChunkReader, type CopyInfo, SnapshotSource, decodeTicket, encodeTicket, installCopy, pullCopy, snapshotRoot } from './snapshot.js';

export type TransportFactory = (options: TransportOptions) => Transport;

/** A follower sent a snapshot ticket that has not installed it by then: Raft may send another. */
const SNAPSHOT_TIMEOUT_MS = 120_000;
/**
 * A ticket whose copy nobody has read for this many election timeouts is given up sooner: the
 * follower died or restarted while taking it (or installed it and restarted before saying so).
 * Raft then probes the follower, which answers from what it has.
 */
const SNAPSHOT_IDLE_ELECTIONS = 10;

/** Pulls snapshot chunks from another member's client port. */
const clientFetcher = (clientUrl: string, options: Partial<ConnectOptions>): ReturnType<SnapshotFetcher> => {
  const client = connect({ ...options, endpoints: [clientUrl], timeoutMs: 30_000 });
  client.catch(() => undefined); // read() reports a failure to connect; unhandled, it would stop the process
  return {
    read: async (id, offset) => {
      const r = await (await client).snapshotRead(id, offset);
      return { size: r.size, data: r.data };
    },
    close: async () => {
      await (await client.catch(() => undefined))?.close();
    },
  };
};

interface Proposal {
  key: string;
  data: Buffer;
  deadline: number;
  proposedAt: number;
  /** Proposed by this member's lessor as leader of this term: never proposed again under another (a late checkpoint or expiry would override the next leader's clock). */
  leaderTerm?: number;
  resolve(result: Buffer): void;
  reject(err: Error): void;
  promise: Promise<Buffer>;
}

interface ReadWaiter {
  deadline: number;
  resolve(): void;
  reject(err: Error): void;
}

/** One ReadIndex round: the reads that share it, and the index they wait for once confirmed. */
interface ReadRound {
  ctx: string;
  waiters: ReadWaiter[];
  issuedAt: number;
  index?: number;
}

export interface MemberStatus {
  id: NodeId;
  name: string;
  clusterId: number;
  leader: NodeId;
  role: Role;
  term: number;
  commitIndex: number;
  /** The Raft log's last index. */
  lastIndex: number;
  appliedIndex: number;
  learner: boolean;
  members: (MemberRecord & { learner: boolean })[];
}

/** How a follower pulls a snapshot copy from the member at `clientUrl` (the client protocol, by default). */
export type SnapshotFetcher = (clientUrl: string) => { read: ChunkReader; close(): Promise<void> };

export class Member {
  readonly id: NodeId;
  readonly clusterId: number;
  /** Every member's name and addresses, as of the last applied membership. */
  private readonly members = new Map<NodeId, MemberRecord>();
  /** Conf changes proposed here, by the index of their entry: resolved once applied. */
  private readonly confWaiters = new Map<number, { resolve(): void; reject(e: Error): void }>();
  /** The membership at each index a compaction may pick (the latest applied first known). */
  private confHistory: { index: number; conf: ConfState }[] = [];
  /** Copies of the store this member serves: to followers that need a snapshot, to `axis snapshot save`. */
  snapshots!: SnapshotSource;
  /** A snapshot being pulled, and one pulled and handed to Raft, waiting to be installed. */
  private pulling = false;
  private pulled: { dir: string; index: number } | undefined;
  /** Followers a snapshot ticket was sent to, and when: Raft is told it failed if they never answer. */
  private readonly ticketsOut = new Map<NodeId, { index: number; at: number; copy: number }>();
  private readonly storeListeners: (() => void)[] = [];
  /** How followers pull snapshots (tests may stand in for the network). */
  fetcher: SnapshotFetcher | undefined;
  /** Quota, automatic compaction, corruption checks (see maintenance.ts). */
  maintenance: Maintenance | undefined;
  /** What /metrics shows of this member. */
  readonly metrics = new MemberMetrics();
  private raft!: Raft;
  private storage!: DurableStorage;
  private transport!: Transport;
  /** What of the peers' messages reaches Raft (see peer-gate.ts). */
  private gate!: PeerGate;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private busy = false;
  /** Resolved when the Ready loop in flight ends (stop() waits for it before closing the store). */
  private idleWaiters: (() => void)[] = [];
  private scheduled = false;
  private earlyQueued = false;
  /** The store's applied index (what reads see). */
  private applied = 0;
  /** Local proposals without a client identity get this client id. */
  private readonly localClient: number;
  private localSeq = 0;
  private readonly proposals = new Map<string, Proposal>();
  private pendingReads: ReadWaiter[] = [];
  private readonly rounds = new Map<string, ReadRound>();
  private confirmed: ReadRound[] = [];
  private roundSeq = 0;
  private leader: NodeId = 0;
  /** The last hard state handed to storage (term and vote must be durable before votes go out). */
  private durableHs = { term: 0, vote: 0, commit: 0 };
  private failure: Error | undefined;
  /** Every member counts lease deadlines down on its own clock; only the leader's decides expiry. */
  private readonly lessor: Lessor;
  /** Lease timings: etcd's, with the configured checkpoint interval. */
  private get leaseOptions() {
    return { ...LESSOR_DEFAULTS, checkpointIntervalMs: this.config.leaseCheckpointIntervalMs };
  }
  private fatal: (err: Error) => void = () => {};

  private constructor(
    readonly config: MemberConfig,
    public store: Store,
    readonly log: Logger,
  ) {
    this.id = memberId(config.name);
    this.clusterId = config.clusterId ?? clusterIdOf(config.initialCluster);
    for (const [name, peerUrl] of config.initialCluster) {
      const id = memberId(name);
      this.members.set(id, { id, name, peerUrl, clientUrl: id === this.id ? config.clientListen : '' });
    }
    this.localClient = Math.floor(Math.random() * 2 ** 52) + 1;
    this.lessor = new Lessor(() => this.store.storedLeases(), (w) => this.proposeWrite(w, { asLeader: true }), { ...this.leaseOptions, clock: () => performance.now() });
  }

  /** Opens the data directory (bootstrapping a new member's log) and starts taking part. */
  static async start(config: MemberConfig, transport: TransportFactory, onFatal?: (err: Error) => void, log = memberLogger(config.name, { level: config.logLevel })): Promise<Member> {
    const store = await open(config.dataDir, storeOptions(config));
    const m = new Member(config, store, log);
    if (onFatal) m.fatal = onFatal;
    try {
      await m.init(transport);
    } catch (err) {
      await store.close().catch(() => {});
      throw err;
    }
    return m;
  }

  private async init(transportFactory: TransportFactory): Promise<void> {
    // Copies served or pulled before a restart are of no use now.
    await fs.rm(snapshotRoot(this.config.dataDir), { recursive: true, force: true });
    this.snapshots = new SnapshotSource(snapshotRoot(this.config.dataDir), () => this.store);
    if (this.store.raftLog().state().lastIndex === 0 && this.config.initialClusterState === 'new') {
      // A new member of a new cluster: every initial member writes the same first snapshot, so the
      // logs agree from index 1 on (the membership at the cluster's birth). A member joining an
      // existing cluster starts empty: the leader sends it a snapshot.
      const voters = [...this.members.keys()];
      const confState: ConfState = { ...emptyConfState(), voters };
      const members = this.memberList().map((m) => ({ ...m, clientUrl: '' })); // the same bytes on every member
      await this.store.raftLog().persist({ snapshot: { index: 1, term: 1, confState: encodeMembership({ conf: confState, members }) } });
    }
    this.storage = new DurableStorage(this.store.raftLog());
    const applied = this.store.applied();
    this.applied = applied.index;
    this.durableHs = this.storage.initialState().hardState;
    // Raft starts from what the store has applied: the membership as of that index is the last one
    // applied (kept with the applied index) or, if none was, the snapshot's. So a restart does not
    // re-read the log, however long.
    const snapIndex = this.storage.snapshot().meta.index;
    const startAt = Math.max(applied.index, snapIndex);
    this.applied = startAt;
    const confBytes = applied.conf && applied.index > snapIndex ? applied.conf : this.store.raftLog().state().snapshot.confState;
    const confState = decodeConfState(confBytes);
    this.adoptMembers(confBytes);
    this.confHistory = [{ index: startAt, conf: confState }];
    // Through `this.storage`, which a snapshot install replaces.
    const start: LogStorage = {
      initialState: () => ({ hardState: this.storage.initialState().hardState, confState }),
      entries: (lo, hi, max) => this.storage.entries(lo, hi, max),
      term: (i) => this.storage.term(i),
      firstIndex: () => this.storage.firstIndex(),
      lastIndex: () => this.storage.lastIndex(),
      snapshot: () => this.storage.snapshot(),
    };
    this.raft = new Raft({
      id: this.id,
      storage: start,
      applied: startAt,
      electionTick: this.config.electionTicks,
      heartbeatTick: this.config.heartbeatTicks,
      random: Math.random,
      checkQuorum: true,
      preVote: true,
      readOnly: 'safe',
      maxSizePerMsg: 1024 * 1024,
      maxInflightMsgs: 256,
      maxUncommittedEntriesSize: 64 * 1024 * 1024,
      maxSnapshotChunk: 1024 * 1024,
    });
    this.gate = new PeerGate(this.id, (id) => this.members.has(id) || this.removedIds.has(id), (line) => this.log.warn({ event: 'peer-refused' }, line));
    const peers = new Map<NodeId, string>();
    for (const m of this.members.values()) if (m.id !== this.id) peers.set(m.id, m.peerUrl);
    this.transport = transportFactory({
      id: this.id,
      clusterId: this.clusterId,
      listen: this.config.peerListen,
      peers,
      onMessages: (ms, from) => this.receive(this.gate.admit(ms, from)),
      log: (line) => this.log.warn({ event: 'transport' }, line),
      onUnreachable: (peer) => {
        if (this.stopped) return;
        this.raft.reportUnreachable(peer);
        this.schedule();
      },
    });
    await this.transport.start();
    this.timer = setInterval(() => this.tick(), this.config.tickMs);
    this.maintenance = new Maintenance(this, this.log);
    this.maintenance.start();
    if (this.members.size === 1 && this.config.initialClusterState === 'new' && this.raft.tracker.config.voters.has(this.id)) this.raft.campaign();
    this.schedule();
  }

  // ---- what the API asks -------------------------------------------------------------------

  /**
   * Replicates a write (the store's packed request) and resolves with its result bytes once it
   * is applied here. (client, seq) identify it: a second call with the same pair while the first
   * is pending shares its answer; once applied, the replicated dedup table answers.
   */
  propose(body: Uint8Array, identity?: { client: number; seq: number; acked: number }, leaderTerm?: number): Promise<Buffer> {
    if (this.halted) return Promise.reject(this.unavailable());
    const client = identity?.client || this.localClient;
    const seq = identity?.client ? identity.seq : ++this.localSeq;
    const floor = identity?.client ? identity.acked : this.localSeq;
    const key = `${client}:${seq}`;
    const pending = this.proposals.get(key);
    if (pending) return pending.promise;
    const now = Date.now();
    let resolve!: (b: Buffer) => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<Buffer>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => this.metrics.proposalsFailed.inc());
    const p: Proposal = {
      key,
      data: encodeEntry({ client, seq, floor, body }),
      deadline: now + this.config.requestTimeoutMs,
      proposedAt: now,
      resolve,
      reject,
      promise,
      ...(leaderTerm === undefined ? {} : { leaderTerm }),
    };
    this.proposals.set(key, p);
    this.tryPropose(p);
    return promise;
  }

  /** Resolves once this member has applied everything committed when it was called (ReadIndex). */
  readBarrier(): Promise<void> {
    if (this.halted) return Promise.reject(this.unavailable());
    return new Promise<void>((resolve, reject) => {
      this.pendingReads.push({ deadline: Date.now() + this.config.requestTimeoutMs, resolve, reject });
      this.schedule();
    });
  }

  status(): MemberStatus {
    const hs = this.raft.hardState();
    return {
      id: this.id,
      name: this.config.name,
      clusterId: this.clusterId,
      leader: this.raft.lead,
      role: this.raft.role,
      term: hs.term,
      commitIndex: hs.commit,
      lastIndex: this.raft.log.lastIndex(),
      appliedIndex: this.applied,
      learner: this.raft.isLearner,
      members: this.memberList().map((m) => ({ ...m, learner: this.raft.tracker.config.learners.has(m.id) })),
    };
  }

  private memberList(): MemberRecord[] {
    return [...this.members.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Takes the member records kept with an applied membership (a store written before they were kept has none). */
  private adoptMembers(conf: Uint8Array): void {
    const { members } = decodeMembership(conf);
    if (!members) return;
    this.members.clear();
    for (const m of members) this.members.set(m.id, m);
  }

  /** Called after this member's store was replaced by a snapshot from another member. */
  onStoreReplaced(f: () => void): void {
    this.storeListeners.push(f);
  }

  get leaderId(): NodeId {
    return this.raft.lead;
  }

  /** Why this member stopped serving, if an unrecoverable error stopped it. */
  get failed(): Error | undefined {
    return this.failure;
  }

  get term(): number {
    return this.raft.term;
  }

  /**
   * Stops: hands leadership to the most caught-up voter first when leading (so the cluster does
   * not wait an election timeout), then fails what is pending and closes the transport and store.
   */
  async stop(options: { transfer?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    if (options.transfer !== false && this.raft.role === Role.Leader && !this.failure) await this.handOff();
    this.stopped = true;
    clearInterval(this.timer);
    this.lessor.close();
    await this.maintenance?.stop();
    await this.snapshots.close();
    const err = this.unavailable();
    for (const p of this.proposals.values()) p.reject(err);
    this.proposals.clear();
    for (const w of this.pendingReads) w.reject(err);
    this.pendingReads = [];
    for (const r of [...this.rounds.values(), ...this.confirmed]) for (const w of r.waiters) w.reject(err);
    this.rounds.clear();
    this.confirmed = [];
    await this.transport.close();
    // Let a Ready in flight finish writing before the store closes: the loop stops after it (the
    // member is halted), however long a slow disk makes it take.
    if (this.busy) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    await this.store.close();
  }

  private async handOff(): Promise<void> {
    let best: NodeId = 0;
    let bestMatch = -1;
    for (const [id, pr] of this.raft.tracker.progress) {
      if (id === this.id || pr.isLearner || !this.raft.tracker.config.voters.has(id)) continue;
      if (pr.match > bestMatch) {
        best = id;
        bestMatch = pr.match;
      }
    }
    if (best === 0) return;
    try {
      this.raft.transferLeader(best);
    } catch (err) {
      if (!isAxisError(err)) throw err;
      return;
    }
    this.schedule();
    const until = Date.now() + this.config.tickMs * this.config.electionTicks * 2;
    while (Date.now() < until && this.raft.role === Role.Leader) await new Promise((r) => setTimeout(r, this.config.tickMs / 4));
  }

  // ---- driving Raft ------------------------------------------------------------------------

  private unavailable(): AxisError {
    return new AxisError(ErrorCode.UNAVAILABLE, this.failure ? `member ${this.config.name} failed: ${this.failure.message}` : `member ${this.config.name} is stopping`);
  }

  private receive(ms: Message[]): void {
    if (this.halted) return;
    for (const m of ms) {
      if (this.removedIds.has(m.from)) {
        this.tellRemoved(m.from);
        continue;
      }
      if (m.type === MessageType.Snap && m.snapshot && m.snapshot.data.length > 0) {
        if (isRemovedNotice(m.snapshot.data)) {
          if (this.members.has(m.from)) {
            this.log.warn({ event: 'removed-stopping', by: this.members.get(m.from)!.name }, `${this.members.get(m.from)!.name} says this member was removed from the cluster: it stops`);
            this.die(new AxisError(ErrorCode.MEMBER_REMOVED, `member ${this.config.name} was removed from the cluster`));
            return;
          }
          continue;
        }
        this.pullSnapshot(m);
        continue;
      }
      this.metrics.received(m, performance.now());
      try {
        this.raft.step(m);
      } catch (err) {
        // A message that breaks no invariant but is refused (e.g. a forwarded proposal while
        // there is no leader) is dropped, as etcd drops it; the proposer retries.
        if (!isAxisError(err) || err.code === ErrorCode.INTERNAL) this.die(err as Error);
      }
    }
    this.schedule();
  }

  private tick(): void {
    if (this.halted) return;
    this.raft.tick();
    if (this.ticketsOut.size > 0) this.checkTickets();
    this.publishSelf();
    const now = Date.now();
    const retryAfter = this.config.tickMs * this.config.electionTicks;
    for (const p of this.proposals.values()) {
      if (now >= p.deadline) {
        this.proposals.delete(p.key);
        p.reject(new AxisError(ErrorCode.TIMEOUT, 'the write was not applied in time (it may still be; retrying with the same request id is safe)'));
      } else if (now - p.proposedAt >= retryAfter) {
        this.tryPropose(p);
      }
    }
    for (const r of this.rounds.values()) {
      const live = r.waiters.filter((w) => now < w.deadline || (w.reject(new AxisError(ErrorCode.TIMEOUT, 'the read could not be confirmed in time')), false));
      if (live.length === 0) this.rounds.delete(r.ctx);
      else if (now - r.issuedAt >= retryAfter) {
        // Unanswered (a lost message, a leader change): ask again with a fresh round.
        this.rounds.delete(r.ctx);
        this.pendingReads.push(...live);
      } else r.waiters = live;
    }
    this.pendingReads = this.pendingReads.filter((w) => now < w.deadline || (w.reject(new AxisError(ErrorCode.TIMEOUT, 'no leader confirmed the read in time')), false));
    this.schedule();
  }

  private tryPropose(p: Proposal): void {
    p.proposedAt = Date.now();
    if (p.leaderTerm !== undefined && (this.raft.role !== Role.Leader || this.raft.term !== p.leaderTerm)) {
      this.proposals.delete(p.key);
      p.reject(new AxisError(ErrorCode.NOT_LEADER, `proposed as the leader of term ${p.leaderTerm}`));
      return;
    }
    try {
      this.raft.propose(p.data);
    } catch (err) {
      if (!isAxisError(err)) return this.die(err as Error);
      if (err.code === ErrorCode.NO_LEADER || err.code === ErrorCode.TRANSFER_IN_PROGRESS || err.code === ErrorCode.NOT_LEADER) {
        return; // proposed again at the next retry, or when a leader appears
      }
      this.proposals.delete(p.key);
      p.reject(err);
      return;
    }
    this.schedule();
  }

  private issueReads(): void {
    if (this.pendingReads.length === 0 || this.raft.lead === 0) return;
    const ctx = `${this.id}:${++this.roundSeq}`;
    const round: ReadRound = { ctx, waiters: this.pendingReads, issuedAt: Date.now() };
    this.pendingReads = [];
    this.rounds.set(ctx, round);
    try {
      this.raft.readIndex(Buffer.from(ctx));
    } catch (err) {
      if (!isAxisError(err)) return this.die(err as Error);
      // No leader now: the round is asked again at a later tick.
      round.issuedAt = 0;
    }
  }

  private get halted(): boolean {
    return this.stopped || this.failure !== undefined;
  }

  private schedule(): void {
    if (this.busy && !this.halted) return this.sendEarly();
    if (this.scheduled || this.busy || this.halted) return;
    this.scheduled = true;
    setImmediate(this.run);
  }

  /**
   * While a Ready is being written, what Raft wants to send that needs no write (a leader's appends
   * of new proposals, heartbeats, responses to them) goes out once per turn rather than after the
   * write, so followers write in parallel with the leader.
   */
  private sendEarly(): void {
    if (this.earlyQueued) return;
    this.earlyQueued = true;
    setImmediate(() => {
      this.earlyQueued = false;
      if (this.busy && !this.halted) this.send(this.raft.takeMessages());
    });
  }

  private readonly run = async (): Promise<void> => {
    this.scheduled = false;
    if (this.busy || this.halted) return;
    this.busy = true;
    try {
      this.issueReads();
      while (this.raft.hasReady() && !this.halted) {
        const rd = this.raft.ready();
        await this.handle(rd);
        this.raft.advance(rd);
        this.issueReads();
      }
    } catch (err) {
      this.die(err as Error);
    } finally {
      this.busy = false;
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  };

  private async handle(rd: Ready): Promise<void> {
    if (rd.softState) {
      const changed = rd.softState.leader !== this.leader;
      if (changed) this.leaderChanged(this.leader, rd.softState.leader);
      this.leader = rd.softState.leader;
      // A new leader: what waited for one is proposed now rather than at its next retry.
      if (changed && this.leader !== 0) for (const p of this.proposals.values()) this.tryPropose(p);
      this.leadLeases(rd.softState.role === Role.Leader);
    }
    // The leader may send its appends while it writes its own copy (Raft §10.2.1).
    this.send(rd.messages);
    if (rd.snapshot) await this.installSnapshot(rd);
    // Only the commit index moved: nothing Raft relies on must be durable yet (a lost commit index
    // is learned again), and the applied entries that ride along are rebuilt from the log after an
    // OS crash. Such commits need one fdatasync instead of two.
    const hs = rd.hardState;
    const lazy = rd.entries.length === 0 && !rd.snapshot && (!hs || (hs.term === this.durableHs.term && hs.vote === this.durableHs.vote));
    failpoint(this.leading ? 'leader-before-persist' : 'ready-before-persist');
    const persisting = hs || rd.entries.length > 0 || rd.snapshot
      ? this.metrics.timed(this.metrics.persistDuration, this.storage.persist({ hardState: hs, entries: rd.entries, snapshot: rd.snapshot, lazy }))
      : undefined;
    if (hs) this.durableHs = hs;
    // Committed entries go down in the same turn, so the same group commit carries them.
    this.metrics.proposalsCommitted.inc(rd.committedEntries.length);
    const applying = rd.committedEntries.length > 0 ? this.apply(rd.committedEntries) : undefined;
    if (persisting) await persisting;
    failpoint(this.leading ? 'leader-after-persist' : 'ready-after-persist');
    this.send(rd.messagesAfterPersist);
    if (applying) await applying;
    for (const rs of rd.readStates) {
      const round = this.rounds.get(Buffer.from(rs.requestId).toString());
      if (!round) continue;
      this.rounds.delete(round.ctx);
      round.index = rs.index;
      this.confirmed.push(round);
    }
    this.releaseReads();
  }

  private leaderChanged(from: NodeId, to: NodeId): void {
    if (to !== 0) this.metrics.leaderChanges.inc();
    const fields = { event: 'leader-changed', leader: to.toString(16), previous: from.toString(16), term: this.raft.term, self: to === this.id };
    if (to === 0) this.log.warn(fields, `lost leader ${from.toString(16)} at term ${this.raft.term}`);
    else this.log.info(fields, `leader is ${to === this.id ? 'this member' : to.toString(16)} at term ${this.raft.term}`);
  }

  /**
   * Becoming leader makes the lessor decide: no lease is due within an election timeout (clients
   * could not renew while there was no leader), expiry is proposed as LEASE_EXPIRE (rate-limited),
   * long leases' remaining TTLs as checkpoints. Losing leadership stops it deciding.
   */
  private leadLeases(leading: boolean): void {
    if (leading) return this.lessor.lead(this.electionTimeoutMs);
    this.lessor.follow();
    for (const p of this.proposals.values()) if (p.leaderTerm !== undefined) this.tryPropose(p); // refused now
  }

  /** How this member connects to another's client endpoint (snapshots, hash checks): with the shared client-endpoint keys when there are some. */
  peerClientOptions(): Partial<ConnectOptions> {
    return this.config.clientKeys ? { curve: memberAsClient(this.config.clientKeys) } : {};
  }

  /** Whether this member leads now. */
  get leading(): boolean {
    return this.raft.role === Role.Leader;
  }

  get electionTimeoutMs(): number {
    return this.config.tickMs * this.config.electionTicks;
  }

  /** This member's view of a lease's time left (ms), or undefined when it knows no such lease. */
  leaseRemainingMs(id: number): number | undefined {
    return this.lessor.remainingMs(id);
  }

  /** Whether this member leads and holds the lease as expired (its revoke on the way). */
  leaseExpired(id: number): boolean {
    return this.lessor.expired(id);
  }

  /**
   * Replicates a prepared store write under this member's own identity; its decoded result.
   * `asLeader`: only while this member leads the current term (the lessor's writes).
   */
  async proposeWrite<T>(w: PreparedWrite<T>, options: { asLeader?: boolean } = {}): Promise<T> {
    const e = new Encoder(64);
    w.encode(e);
    const term = options.asLeader ? (this.raft.role === Role.Leader ? this.raft.term : -1) : undefined;
    const result = await this.propose(Buffer.from(e.take()), undefined, term);
    const d = new Decoder(result);
    d.status();
    return w.decode(d);
  }

  /** What applied lease writes mean for this member's deadlines (whoever proposed them). */
  private leaseApplied(body: Uint8Array, result: Buffer, term: number): void {
    const effect = leaseEffect(body, result);
    if (effect) this.lessor.applied(effect, { fromOldTerm: term < this.raft.term });
  }

  private releaseReads(): void {
    if (this.confirmed.length === 0) return;
    const waiting: ReadRound[] = [];
    for (const r of this.confirmed) {
      if ((r.index ?? Infinity) <= this.applied) for (const w of r.waiters) w.resolve();
      else waiting.push(r);
    }
    this.confirmed = waiting;
  }

  private async apply(entries: Entry[]): Promise<void> {
    const batch: ApplyEntry[] = [];
    const keys: (string | undefined)[] = [];
    const bodies: (Uint8Array | undefined)[] = [];
    const confApplied: { index: number; cc: ConfChange; conf: ConfState }[] = [];
    for (const e of entries) {
      if (e.index <= this.applied) continue; // Raft starts at the applied index: not expected
      if (e.type === EntryType.ConfChange) {
        const cc = decodeConfChange(e.data);
        const cs = this.raft.applyConfChange(cc);
        this.changeMembers(cc);
        confApplied.push({ index: e.index, cc, conf: cs });
        batch.push({ index: e.index, term: e.term, conf: encodeMembership({ conf: cs, members: this.memberList() }) });
        keys.push(undefined);
        bodies.push(undefined);
      } else if (e.data.length === 0) {
        batch.push({ index: e.index, term: e.term });
        keys.push(undefined);
        bodies.push(undefined);
      } else {
        const w = decodeEntry(e.data);
        batch.push({ index: e.index, term: e.term, request: w });
        keys.push(`${w.client}:${w.seq}`);
        bodies.push(w.body);
      }
    }
    if (batch.length === 0) return;
    const results = await this.metrics.timed(this.metrics.applyDuration, this.store.apply(batch));
    this.applied = batch[batch.length - 1]!.index;
    this.metrics.proposalsApplied.inc(batch.length);
    for (const c of confApplied) {
      this.confHistory.push({ index: c.index, conf: c.conf });
      this.confWaiters.get(c.index)?.resolve();
      this.confWaiters.delete(c.index);
    }
    failpoint(this.leading ? 'leader-apply-before-reply' : 'apply-before-reply');
    if (confApplied.length > 0) this.peersChanged();
    await this.maybeCompact();
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      if (key === undefined) continue;
      const body = bodies[i];
      if (body) this.leaseApplied(body, results[i]!, batch[i]!.term);
      if (body) this.logApplied(body, results[i]!, batch[i]!.index);
      const p = this.proposals.get(key);
      if (!p) continue;
      this.proposals.delete(key);
      p.resolve(results[i]!);
    }
  }


  /** A compaction or an alarm is one line on every member, as it is applied. */
  private logApplied(body: Uint8Array, result: Buffer, index: number): void {
    const compacted = compactionOf(body, result);
    if (compacted) this.log.info({ event: 'store-compacted', revision: compacted, index }, `store compacted to revision ${compacted}`);
    const alarm = alarmOf(body, result);
    if (!alarm) return;
    const fields = { event: alarm.activate ? 'alarm-raised' : 'alarm-disarmed', alarm: alarm.type, for: alarm.member.toString(16), index };
    if (alarm.activate) this.log.warn(fields, `alarm ${alarm.type} raised for member ${fields.for}`);
    else this.log.info(fields, `alarm ${alarm.type} for member ${fields.for} disarmed`);
  }

  // ---- membership ----------------------------------------------------------------------------

  /** Every member with its addresses and whether it is a learner. */
  memberListing(): (MemberRecord & { learner: boolean })[] {
    return this.status().members;
  }

  private requireLeader(what: string): void {
    if (this.raft.role !== Role.Leader) throw new AxisError(ErrorCode.NOT_LEADER, `${what} is the leader's to do`);
  }

  /** Proposes a membership change here (the leader) and resolves once this member applied it. */
  private async changeConf(cc: ConfChange): Promise<void> {
    this.requireLeader('a membership change');
    // One change at a time: a new leader may still be applying the last one.
    const deadline = Date.now() + this.config.requestTimeoutMs;
    for (;;) {
      try {
        this.raft.proposeConfChange(cc);
        break;
      } catch (err) {
        if (!isAxisError(err, ErrorCode.CONF_CHANGE_PENDING) || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, this.config.tickMs));
        this.requireLeader('a membership change');
      }
    }
    // The leader appends a proposal at once: the change is its last entry.
    const index = this.raft.log.lastIndex();
    this.schedule();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.confWaiters.delete(index);
        reject(new AxisError(ErrorCode.TIMEOUT, 'the membership change was not applied in time (it may still be)'));
      }, this.config.requestTimeoutMs);
      this.confWaiters.set(index, {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
    // Another leader's entry may have taken that index: the caller checks what was applied.
    if (this.raft.log.term(index) !== this.raft.term) throw new AxisError(ErrorCode.UNAVAILABLE, 'leadership changed before the membership change was applied; try again');
  }

  /** Adds a member (a learner, or a voter) by name and addresses; its id derives from its name. */
  async addMember(m: { name: string; peerUrl: string; clientUrl?: string; learner?: boolean }): Promise<MemberRecord> {
    if (typeof m.name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(m.name)) {
      throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'a member name is 1-64 letters, digits, _ . or -');
    }
    const peerUrl = checkEndpoint(m.peerUrl, 'the peer URL');
    const clientUrl = m.clientUrl ? checkEndpoint(m.clientUrl, 'the client URL') : '';
    const id = memberId(m.name);
    this.requireLeader('adding a member');
    const same = [...this.members.values()].find((x) => x.id === id || x.name === m.name || x.peerUrl === peerUrl);
    if (same || this.raft.tracker.progress.has(id)) {
      throw new AxisError(ErrorCode.MEMBER_EXISTS, `member ${same?.name ?? id} (${same?.peerUrl ?? 'in the configuration'}) has that name, id or peer URL`);
    }
    const rec: MemberRecord = { id, name: m.name, peerUrl, clientUrl };
    await this.changeConf({ transition: 'auto', changes: [{ type: m.learner ? 'addLearner' : 'addNode', nodeId: id }], context: encodeContext(rec) });
    this.log.info({ event: 'member-added', name: m.name, id: id.toString(16), peerUrl, learner: m.learner === true }, `added ${m.learner ? 'learner' : 'voter'} ${m.name} (${id.toString(16)}) at ${peerUrl}`);
    return rec;
  }

  /** Removes a member. The leader removing itself hands leadership over first (the new leader removes it). */
  async removeMember(id: NodeId): Promise<MemberRecord> {
    const rec = this.members.get(id);
    if (!rec && !this.raft.tracker.progress.has(id)) throw new AxisError(ErrorCode.MEMBER_NOT_FOUND, `no member ${id.toString(16)}`);
    this.requireLeader('removing a member');
    if (id === this.id) {
      await this.handOff();
      throw new AxisError(ErrorCode.NOT_LEADER, 'the leader handed over leadership before its removal: ask the new leader');
    }
    await this.changeConf({ transition: 'auto', changes: [{ type: 'removeNode', nodeId: id }] });
    this.log.info({ event: 'member-removed', name: rec?.name, id: id.toString(16) }, `removed ${rec?.name ?? id} (${id.toString(16)})`);
    return rec ?? { id, name: '', peerUrl: '', clientUrl: '' };
  }

  /** Makes a learner a voter, once it has caught up (AXIS_LEARNER_NOT_READY before). */
  async promoteMember(id: NodeId): Promise<MemberRecord> {
    const rec = this.members.get(id);
    this.requireLeader('promoting a learner');
    const cfg = this.raft.tracker.config;
    if (!cfg.learners.has(id)) {
      if (cfg.voters.has(id)) throw new AxisError(ErrorCode.CONF_CHANGE_INVALID, `member ${rec?.name ?? id} is a voter already`);
      throw new AxisError(ErrorCode.MEMBER_NOT_FOUND, `no learner ${id.toString(16)}`);
    }
    // etcd's rule: the learner holds at least 90% of the leader's log.
    const pr = this.raft.tracker.progress.get(id)!;
    const last = this.raft.log.lastIndex();
    if (pr.match < last * 0.9 || !pr.recentActive) {
      throw new AxisError(ErrorCode.LEARNER_NOT_READY, `learner ${rec?.name ?? id} has ${pr.match} of ${last} entries; promote it once it has caught up`);
    }
    await this.changeConf({ transition: 'auto', changes: [{ type: 'addNode', nodeId: id }], ...(rec ? { context: encodeContext(rec) } : {}) });
    this.log.info({ event: 'member-promoted', name: rec?.name, id: id.toString(16) }, `promoted ${rec?.name ?? id} to voter`);
    return rec ?? { id, name: '', peerUrl: '', clientUrl: '' };
  }

  /** Changes a member's addresses (its role stays). */
  async updateMember(id: NodeId, urls: { peerUrl?: string; clientUrl?: string }): Promise<MemberRecord> {
    const rec = this.members.get(id);
    if (!rec) throw new AxisError(ErrorCode.MEMBER_NOT_FOUND, `no member ${id.toString(16)}`);
    const next: MemberRecord = {
      ...rec,
      ...(urls.peerUrl ? { peerUrl: checkEndpoint(urls.peerUrl, 'the peer URL') } : {}),
      ...(urls.clientUrl ? { clientUrl: checkEndpoint(urls.clientUrl, 'the client URL') } : {}),
    };
    if ([...this.members.values()].some((x) => x.id !== id && x.peerUrl === next.peerUrl)) {
      throw new AxisError(ErrorCode.MEMBER_EXISTS, `another member has peer URL ${next.peerUrl}`);
    }
    const type = this.raft.tracker.config.learners.has(id) ? 'addLearner' : 'addNode';
    await this.changeConf({ transition: 'auto', changes: [{ type, nodeId: id }], context: encodeContext(next) });
    return next;
  }

  /** Hands leadership to voter `target`; resolves with the leader once it changed. */
  async moveLeader(target: NodeId): Promise<NodeId> {
    this.requireLeader('moving leadership');
    if (target === this.id) return this.id;
    if (!this.raft.tracker.config.voters.has(target)) throw new AxisError(ErrorCode.MEMBER_NOT_FOUND, `${target.toString(16)} is not a voting member`);
    this.raft.transferLeader(target);
    this.schedule();
    const until = Date.now() + 2 * this.electionTimeoutMs;
    while (Date.now() < until && this.raft.lead !== target && !this.halted) await new Promise((r) => setTimeout(r, this.config.tickMs / 2));
    if (this.raft.lead !== target) throw new AxisError(ErrorCode.TIMEOUT, `${target.toString(16)} did not take over in time`);
    return target;
  }

  /** What an applied conf change does to the member records (its context names the member). */
  private changeMembers(cc: ConfChange): void {
    const ctx = decodeContext(cc.context);
    for (const ch of cc.changes) {
      if (ch.type === 'removeNode' && ch.nodeId !== this.id) this.removedIds.set(ch.nodeId, 0);
      else this.removedIds.delete(ch.nodeId);
      if (ch.type === 'removeNode') this.members.delete(ch.nodeId);
      else if (ctx && ctx.id === ch.nodeId) this.members.set(ch.nodeId, ctx);
      else if (!this.members.has(ch.nodeId)) this.members.set(ch.nodeId, { id: ch.nodeId, name: ch.nodeId.toString(16), peerUrl: '', clientUrl: '' });
    }
    if (cc.changes.some((ch) => ch.type === 'removeNode' && ch.nodeId === this.id)) this.removedSelf = true;
  }

  private removedSelf = false;
  /** Members this one saw removed, and when each was last told so. */
  private readonly removedIds = new Map<NodeId, number>();

  private tellRemoved(id: NodeId): void {
    const now = Date.now();
    if (now - (this.removedIds.get(id) ?? 0) < 1000) return;
    this.removedIds.set(id, now);
    this.transport.send([message({ type: MessageType.Snap, from: this.id, to: id, term: this.raft.term, snapshot: { meta: { index: 0, term: 0, confState: emptyConfState() }, data: REMOVED_NOTICE } })]);
  }
  private readonly peerUrls = new Map<NodeId, string>();

  /** The transport follows the member records; a member removed from the cluster stops. */
  private peersChanged(): void {
    for (const m of this.members.values()) {
      if (m.id === this.id || !m.peerUrl || this.peerUrls.get(m.id) === m.peerUrl) continue;
      this.transport.addPeer(m.id, m.peerUrl);
      this.peerUrls.set(m.id, m.peerUrl);
    }
    // A removed member stays reachable: it is told it was removed when it next speaks (tellRemoved).
    for (const id of [...this.peerUrls.keys()]) {
      if (this.members.has(id) || this.removedIds.has(id)) continue;
      this.transport.removePeer(id);
      this.peerUrls.delete(id);
    }
    if (this.removedSelf) {
      this.log.warn({ event: 'removed-stopping' }, 'this member was removed from the cluster: it stops');
      this.die(new AxisError(ErrorCode.MEMBER_REMOVED, `member ${this.config.name} was removed from the cluster`));
    }
  }

  private lastPublish = 0;

  /**
   * An initial member's client address is its own to know: until the membership records it, the
   * member proposes an update of its own record (as etcd members publish their attributes), every
   * few seconds while it has not been applied.
   */
  private publishSelf(): void {
    const rec = this.members.get(this.id);
    const now = Date.now();
    if (!rec || rec.clientUrl === this.config.clientListen || this.raft.lead === 0 || now - this.lastPublish < 2000) return;
    const cfg = this.raft.tracker.config;
    if (cfg.voters.isJoint() || (!cfg.voters.has(this.id) && !cfg.learners.has(this.id))) return;
    this.lastPublish = now;
    // Not written down yet (the record here is what was applied): say it again until it is.
    const type = cfg.learners.has(this.id) ? 'addLearner' : 'addNode';
    try {
      this.raft.proposeConfChange({ transition: 'auto', changes: [{ type, nodeId: this.id }], context: encodeContext({ ...rec, clientUrl: this.config.clientListen }) });
      this.schedule();
    } catch (err) {
      if (!isAxisError(err)) throw err; // a change is pending, or no leader: later
    }
  }

  // ---- snapshots and log compaction -----------------------------------------------------------

  /** Raft's snapshot messages go out as tickets: the follower pulls a copy of the store. */
  private send(ms: Message[]): void {
    if (ms.some((m) => m.type === MessageType.Snap)) {
      for (const m of ms) if (m.type === MessageType.Snap) this.sendTicket(m);
      ms = ms.filter((m) => m.type !== MessageType.Snap);
    }
    this.metrics.sent(ms, performance.now(), this.electionTimeoutMs);
    this.transport.send(ms);
  }

  private sendTicket(m: Message): void {
    const term = this.raft.term;
    const to = m.to;
    this.ticketsOut.set(to, { index: 0, at: Date.now(), copy: 0 });
    // A copy made for one follower serves others that need one soon after, if it reaches where
    // this leader's log now starts (and past what the follower has), and if the follower is in its
    // membership (Raft refuses a snapshot of a configuration without itself).
    const minIndex = Math.max(this.storage.firstIndex() - 1, (this.raft.tracker.progress.get(to)?.match ?? 0) + 1);
    const fits = (c: CopyInfo) => {
      const cs = decodeMembership(c.conf).conf;
      return c.index >= minIndex && [cs.voters, cs.votersOutgoing, cs.learners, cs.learnersNext].some((ids) => ids.includes(to));
    };
    this.snapshots.latest(10 * this.electionTimeoutMs, fits).then(
      (c) => {
        if (this.halted || this.raft.term !== term || this.raft.role !== Role.Leader) return;
        this.ticketsOut.set(to, { index: c.index, at: Date.now(), copy: c.id });
        this.log.info({ event: 'snapshot-sent', to: to.toString(16), index: c.index, bytes: c.size }, `sending a snapshot at index ${c.index} (${c.size} bytes) to ${to.toString(16)}`);
        const { chunk: _chunk, ...rest } = m;
        const meta = { index: c.index, term: c.term, confState: decodeMembership(c.conf).conf };
        this.transport.send([{ ...rest, snapshot: { meta, data: encodeTicket({ clientUrl: this.config.clientListen, id: c.id, size: c.size }) } }]);
      },
      (err: unknown) => {
        this.log.warn({ event: 'snapshot-failed', to: to.toString(16), err }, `could not make a snapshot for ${to.toString(16)}: ${(err as Error).message}`);
        this.ticketsOut.delete(to);
        if (!this.halted) {
          this.raft.reportSnapshot(to, false);
          this.schedule();
        }
      },
    );
  }

  /** A follower that never installs what it was sent: Raft may send another. */
  private checkTickets(): void {
    const now = Date.now();
    for (const [to, t] of this.ticketsOut) {
      const pr = this.raft.tracker.progress.get(to);
      if (!pr || pr.state !== 'snapshot' || this.raft.role !== Role.Leader) this.ticketsOut.delete(to);
      else if (t.index > 0 && pr.match >= t.index) {
        // It installed the copy, but this log was compacted past it meanwhile (Raft waits for the
        // snapshot's outcome to move on): done, so Raft probes it and sends a newer one.
        this.ticketsOut.delete(to);
        this.raft.reportSnapshot(to, true);
        this.schedule();
      } else if (now - t.at > SNAPSHOT_TIMEOUT_MS || (t.index > 0 && now - Math.max(t.at, this.snapshots.lastRead(t.copy) ?? 0) > SNAPSHOT_IDLE_ELECTIONS * this.electionTimeoutMs)) {
        this.ticketsOut.delete(to);
        this.raft.reportSnapshot(to, false);
        this.schedule();
      }
    }
  }

  /** A ticket from the leader: pull the copy, make it durable, then hand Raft the snapshot. */
  private pullSnapshot(m: Message): void {
    const t = decodeTicket(m.snapshot!.data);
    const meta = m.snapshot!.meta;
    if (!t || this.pulling) return;
    if (meta.index <= this.applied) {
      // This member has that far already (it installed the copy, then restarted before Raft said
      // so): Raft answers with its commit index, so the leader stops waiting for the snapshot.
      if (meta.index <= this.raft.hardState().commit) {
        this.raft.step({ ...m, snapshot: { meta, data: new Uint8Array() } });
        this.schedule();
      }
      return;
    }
    this.pulling = true;
    const dir = path.join(snapshotRoot(this.config.dataDir), `in-${meta.index}`);
    const fetcher = this.fetcher ? this.fetcher(t.clientUrl) : clientFetcher(t.clientUrl, this.peerClientOptions());
    this.log.info({ event: 'snapshot-pulling', from: t.clientUrl, index: meta.index, bytes: t.size }, `pulling a snapshot at index ${meta.index} (${t.size} bytes) from ${t.clientUrl}`);
    pullCopy(fetcher.read, t.id, t.size, dir)
      .then(() => {
        if (this.halted) return;
        this.pulled = { dir, index: meta.index };
        this.raft.step({ ...m, snapshot: { meta, data: new Uint8Array() } });
        this.schedule();
      })
      .catch((err: unknown) => {
        this.log.warn({ event: 'snapshot-pull-failed', from: t.clientUrl, index: meta.index, err }, `could not pull the snapshot at index ${meta.index}: ${(err as Error).message}`);
      })
      .finally(() => {
        this.pulling = false;
        void fetcher.close();
      });
  }

  /** Raft restored a snapshot: the pulled copy becomes the store (see installCopy). */
  private async installSnapshot(rd: Ready): Promise<void> {
    const snap = rd.snapshot!;
    const p = this.pulled;
    if (!p || p.index !== snap.meta.index) throw new AxisError(ErrorCode.INTERNAL, `Raft restored a snapshot at ${snap.meta.index} that this member did not pull`);
    this.pulled = undefined;
    const hs = rd.hardState ?? this.durableHs;
    const options = storeOptions(this.config);
    await this.store.close();
    await installCopy(p.dir, this.config.dataDir, { index: snap.meta.index, term: snap.meta.term, conf: snap.meta.confState }, hs, options);
    this.store = await open(this.config.dataDir, options);
    this.storage = new DurableStorage(this.store.raftLog());
    this.durableHs = { term: hs.term, vote: hs.vote, commit: Math.max(hs.commit, snap.meta.index) };
    this.applied = snap.meta.index;
    this.adoptMembers(this.store.applied().conf ?? this.store.raftLog().state().snapshot.confState);
    this.peersChanged();
    this.confHistory = [{ index: snap.meta.index, conf: snap.meta.confState }];
    this.lessor.reload();
    this.log.info({ event: 'snapshot-installed', index: snap.meta.index, term: snap.meta.term, revision: this.store.revision() }, `installed a snapshot at index ${snap.meta.index} (revision ${this.store.revision()})`);
    for (const f of this.storeListeners) f();
  }

  /** Raft log compaction: with more than snapshotCount + snapshotCatchupEntries entries, keep the last snapshotCatchupEntries. */
  private async maybeCompact(): Promise<void> {
    const keep = this.config.snapshotCatchupEntries;
    const first = this.storage.firstIndex();
    if (this.applied - first + 1 < this.config.snapshotCount + keep) return;
    const at = this.applied - keep;
    let conf: ConfState | undefined;
    for (const h of this.confHistory) if (h.index <= at) conf = h.conf;
    if (!conf) return; // the membership there is not known since the start: later
    await this.storage.compact(at, conf);
    this.log.info({ event: 'log-compacted', index: at, kept: this.applied - at }, `raft log compacted up to index ${at}`);
    let i = 0;
    while (i + 1 < this.confHistory.length && this.confHistory[i + 1]!.index <= at) i++;
    this.confHistory = this.confHistory.slice(i);
  }

  private die(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    clearInterval(this.timer);
    this.lessor.close();
    this.log.error({ event: 'member-failed', err }, `stops: ${err.message}`);
    this.fatal(err);
  }
}

/**
 * How a member opens its store. Durable members use the 'raft' mode: a Ready's appends are durable
 * with one journal fdatasync, and applied entries are answered once visible (the log replays them
 * after an OS crash). No spinning writer: the member's peers (often on the same machine) need the
 * CPU more. No embedded lessor either: in a cluster only the leader decides that a lease expired.
 */
function storeOptions(config: MemberConfig): OpenOptions {
  return { durability: config.durability === 'sync' ? 'raft' : 'nosync', writerSpinMicros: 0, lessor: false };
}
