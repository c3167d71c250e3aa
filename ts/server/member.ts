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
import { performance } from 'node:perf_hooks';
import { AxisError, ErrorCode, isAxisError } from '../errors/index.js';
import { Raft } from '../raft/raft.js';
import { DurableStorage, decodeConfState, encodeConfState } from '../raft/durable-storage.js';
import type { LogStorage } from '../raft/storage.js';
import { decodeConfChange } from '../raft/confchange.js';
import { type ConfState, type Entry, EntryType, type Message, type NodeId, type Ready, Role, emptyConfState } from '../raft/types.js';
import { Decoder, Encoder, LESSOR_DEFAULTS, Lessor, leaseEffect, open, type ApplyEntry, type PreparedWrite, type Store } from '../storage/index.js';
import type { Transport, TransportOptions } from '../transport/types.js';
import { type MemberConfig, type MemberInfo, clusterIdOf, memberId, members } from './config.js';
import { decodeEntry, encodeEntry } from './entry.js';

export type TransportFactory = (options: TransportOptions) => Transport;

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
  appliedIndex: number;
  learner: boolean;
  members: MemberInfo[];
}

function log(line: string): void {
  process.stderr.write(`axis: ${line}\n`);
}

export class Member {
  readonly id: NodeId;
  readonly clusterId: number;
  readonly info: MemberInfo[];
  private raft!: Raft;
  private storage!: DurableStorage;
  private transport!: Transport;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private busy = false;
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
    readonly store: Store,
  ) {
    this.id = memberId(config.name);
    this.clusterId = clusterIdOf(config.initialCluster);
    this.info = members(config);
    this.localClient = Math.floor(Math.random() * 2 ** 52) + 1;
    this.lessor = new Lessor(() => store.storedLeases(), (w) => this.proposeWrite(w, { asLeader: true }), { ...this.leaseOptions, clock: () => performance.now() });
  }

  /** Opens the data directory (bootstrapping a new member's log) and starts taking part. */
  static async start(config: MemberConfig, transport: TransportFactory, onFatal?: (err: Error) => void): Promise<Member> {
    // No spinning writer: the member's peers (often on the same machine) need the CPU more.
    // No embedded lessor either: in a cluster only the leader decides that a lease expired.
    const store = await open(config.dataDir, { durability: config.durability, writerSpinMicros: 0, lessor: false });
    const m = new Member(config, store);
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
    this.storage = new DurableStorage(this.store.raftLog());
    if (this.storage.lastIndex() === 0) {
      // A new member of a new cluster: every initial member writes the same first snapshot, so the
      // logs agree from index 1 on (the membership at the cluster's birth).
      const voters = this.info.map((m) => m.id);
      const confState: ConfState = { ...emptyConfState(), voters };
      await this.storage.applySnapshot({ meta: { index: 1, term: 1, confState }, data: new Uint8Array() });
    }
    const applied = this.store.applied();
    this.applied = applied.index;
    this.durableHs = this.storage.initialState().hardState;
    // Raft starts from what the store has applied: the membership as of that index is the last one
    // applied (kept with the applied index) or, if none was, the snapshot's. So a restart does not
    // re-read the log, however long.
    const storage = this.storage;
    const snapIndex = storage.snapshot().meta.index;
    const startAt = Math.max(applied.index, snapIndex);
    const confState = applied.conf && applied.index > snapIndex ? decodeConfState(applied.conf) : storage.initialState().confState;
    const start: LogStorage = {
      initialState: () => ({ hardState: storage.initialState().hardState, confState }),
      entries: (lo, hi, max) => storage.entries(lo, hi, max),
      term: (i) => storage.term(i),
      firstIndex: () => storage.firstIndex(),
      lastIndex: () => storage.lastIndex(),
      snapshot: () => storage.snapshot(),
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
    const peers = new Map<NodeId, string>();
    for (const m of this.info) if (m.id !== this.id) peers.set(m.id, m.peerUrl);
    this.transport = transportFactory({
      id: this.id,
      clusterId: this.clusterId,
      listen: this.config.peerListen,
      peers,
      onMessages: (ms) => this.receive(ms),
      onUnreachable: (peer) => {
        if (this.stopped) return;
        this.raft.reportUnreachable(peer);
        this.schedule();
      },
    });
    await this.transport.start();
    this.timer = setInterval(() => this.tick(), this.config.tickMs);
    if (this.info.length === 1) this.raft.campaign();
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
      appliedIndex: this.applied,
      learner: this.raft.isLearner,
      members: this.info,
    };
  }

  get leaderId(): NodeId {
    return this.raft.lead;
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
    const err = this.unavailable();
    for (const p of this.proposals.values()) p.reject(err);
    this.proposals.clear();
    for (const w of this.pendingReads) w.reject(err);
    this.pendingReads = [];
    for (const r of [...this.rounds.values(), ...this.confirmed]) for (const w of r.waiters) w.reject(err);
    this.rounds.clear();
    this.confirmed = [];
    await this.transport.close();
    // Let a Ready in flight finish writing before the store closes.
    for (let i = 0; i < 200 && this.busy; i++) await new Promise((r) => setTimeout(r, 5));
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
      if (this.busy && !this.halted) this.transport.send(this.raft.takeMessages());
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
    }
  };

  private async handle(rd: Ready): Promise<void> {
    if (rd.softState) {
      const changed = rd.softState.leader !== this.leader;
      this.leader = rd.softState.leader;
      // A new leader: what waited for one is proposed now rather than at its next retry.
      if (changed && this.leader !== 0) for (const p of this.proposals.values()) this.tryPropose(p);
      this.leadLeases(rd.softState.role === Role.Leader);
    }
    if (rd.snapshot && rd.snapshot.meta.index > 1) {
      // Members never compact their logs yet, so no leader sends a snapshot of state.
      throw new AxisError(ErrorCode.INTERNAL, `received a snapshot at index ${rd.snapshot.meta.index}; installing state snapshots is not supported by this version`);
    }
    // The leader may send its appends while it writes its own copy (Raft §10.2.1).
    this.transport.send(rd.messages);
    // Only the commit index moved: nothing Raft relies on must be durable yet (a lost commit index
    // is learned again), and the applied entries that ride along are rebuilt from the log after an
    // OS crash. Such commits need one fdatasync instead of two.
    const hs = rd.hardState;
    const lazy = rd.entries.length === 0 && !rd.snapshot && (!hs || (hs.term === this.durableHs.term && hs.vote === this.durableHs.vote));
    const persisting = hs || rd.entries.length > 0 || rd.snapshot
      ? this.storage.persist({ hardState: hs, entries: rd.entries, snapshot: rd.snapshot, lazy })
      : undefined;
    if (hs) this.durableHs = hs;
    // Committed entries go down in the same turn, so the same group commit carries them.
    const applying = rd.committedEntries.length > 0 ? this.apply(rd.committedEntries) : undefined;
    if (persisting) await persisting;
    this.transport.send(rd.messagesAfterPersist);
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
    for (const e of entries) {
      if (e.index <= this.applied) continue; // Raft starts at the applied index: not expected
      const cs = e.type === EntryType.ConfChange ? this.raft.applyConfChange(decodeConfChange(e.data)) : undefined;
      if (cs) {
        batch.push({ index: e.index, term: e.term, conf: encodeConfState(cs) });
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
    const results = await this.store.apply(batch);
    this.applied = batch[batch.length - 1]!.index;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i];
      if (key === undefined) continue;
      const body = bodies[i];
      if (body) this.leaseApplied(body, results[i]!, batch[i]!.term);
      const p = this.proposals.get(key);
      if (!p) continue;
      this.proposals.delete(key);
      p.resolve(results[i]!);
    }
  }

  private die(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    clearInterval(this.timer);
    this.lessor.close();
    log(`member ${this.config.name} stops: ${err.stack ?? err.message}`);
    this.fatal(err);
  }
}
