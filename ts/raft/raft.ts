/**
 * The Raft state machine: a pure function of the messages and ticks it is given, after
 * etcd-io/raft's raft.go. No sockets, no disk, no clock; randomness is injected. The application
 * drives it through step()/tick()/propose() and collects its work with ready()/advance().
 *
 * Durability contract: a Ready's `hardState`, `entries` and `snapshot` are persisted before its
 * `messagesAfterPersist` are sent and before advance(). The leader counts its own log towards a
 * commit only once advance() says it is durable, so nothing is committed that a quorum has not
 * written to disk.
 */
import { RaftLog } from './log.js';
import type { LogStorage } from './storage.js';
import { Inflights, Progress, ProgressTracker } from './tracker.js';
import { ConfChanger, decodeConfChange, encodeConfChange, restore } from './confchange.js';
import { RaftErrorReason, isRaftError, raftError } from './errors.js';
import { isAxisError } from '../errors/index.js';
import {
  type ConfChange, type ConfState, type Entry, EntryType, type HardState, type Message, MessageType, NONE, type NodeId,
  type ReadState, type Ready, Role, type Snapshot, message,
} from './types.js';
import { ReadOnly } from './read-only.js';
import { impossible } from './impossible.js';

export interface RaftConfig {
  id: NodeId;
  storage: LogStorage;
  /** Ticks without hearing from a leader before campaigning (randomized to [n, 2n)). */
  electionTick: number;
  /** Ticks between a leader's heartbeats. */
  heartbeatTick: number;
  /** Uniform random numbers in [0, 1): the only source of nondeterminism, injected. */
  random: () => number;
  /** The last index the application applied (on restart). */
  applied?: number;
  /** Most bytes of entries in one append message. */
  maxSizePerMsg?: number;
  /** Most append messages in flight to one follower (pipelining). */
  maxInflightMsgs?: number;
  /** Most bytes of entries in flight to one follower (0: no limit). */
  maxInflightBytes?: number;
  /** Most bytes of uncommitted entries a leader holds before refusing proposals (0: no limit). */
  maxUncommittedEntriesSize?: number;
  /** Most bytes of snapshot data in one message; a larger snapshot is streamed in chunks (0: one message). */
  maxSnapshotChunk?: number;
  /** A leader that has not heard from a quorum for an election timeout steps down. */
  checkQuorum?: boolean;
  /** Campaign only after a pre-vote shows a quorum would grant the vote (no disruption by rejoining nodes). */
  preVote?: boolean;
  /** 'safe': ReadIndex confirms leadership with a heartbeat round; 'lease': trusts the lease (needs checkQuorum). */
  readOnly?: 'safe' | 'lease';
}

type StepFn = (m: Message) => void;

export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = NONE;
  lead: NodeId = NONE;
  role: Role = Role.Follower;
  readonly log: RaftLog;
  tracker: ProgressTracker;
  isLearner = false;

  private readonly electionTimeout: number;
  private readonly heartbeatTimeout: number;
  private randomizedElectionTimeout = 0;
  /** Ticks since the last election timeout reset (followers, candidates) or quorum check (leaders). */
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private readonly checkQuorum: boolean;
  private readonly preVote: boolean;
  private readonly maxMsgSize: number;
  private readonly maxInflightMsgs: number;
  private readonly maxInflightBytes: number;
  private readonly maxUncommittedSize: number;
  private readonly maxSnapshotChunk: number;
  /** A snapshot arriving in chunks: what has come so far. */
  private incomingSnapshot: { from: NodeId; index: number; term: number; parts: Map<number, Uint8Array>; received: number } | undefined;
  private uncommittedSize = 0;
  private readonly random: () => number;
  private readOnly: ReadOnly;
  /** ReadIndex requests that arrived before this leader's no-op committed. */
  private pendingReads: Message[] = [];
  /** Index of the last membership change proposed; none may be proposed until it is applied. */
  private pendingConfIndex = 0;
  /** The member leadership is being handed to (NONE when no transfer is under way). */
  leadTransferee: NodeId = NONE;
  private readonly readOnlyOption: 'safe' | 'lease';

  private msgs: Message[] = [];
  private msgsAfterPersist: Message[] = [];
  readStates: ReadState[] = [];
  private step_: StepFn;
  private tick_: () => void;

  // What the last Ready reported, to report only changes.
  private prevHardState: HardState;
  private prevSoft: { leader: NodeId; role: Role };

  constructor(c: RaftConfig) {
    if (c.id === NONE) throw new Error('raft: id must not be 0');
    if (c.heartbeatTick <= 0) throw new Error('raft: heartbeatTick must be > 0');
    if (c.electionTick <= c.heartbeatTick) throw new Error('raft: electionTick must be greater than heartbeatTick');
    if (c.readOnly === 'lease' && !c.checkQuorum) throw new Error('raft: lease reads need checkQuorum');
    this.id = c.id;
    this.electionTimeout = c.electionTick;
    this.heartbeatTimeout = c.heartbeatTick;
    this.random = c.random;
    this.checkQuorum = c.checkQuorum ?? false;
    this.preVote = c.preVote ?? false;
    this.maxMsgSize = c.maxSizePerMsg ?? 1024 * 1024;
    this.maxInflightMsgs = c.maxInflightMsgs ?? 256;
    this.maxInflightBytes = c.maxInflightBytes ?? 0;
    this.maxUncommittedSize = c.maxUncommittedEntriesSize ?? 0;
    this.maxSnapshotChunk = c.maxSnapshotChunk ?? 0;
    this.readOnlyOption = c.readOnly ?? 'safe';
    this.readOnly = new ReadOnly(this.readOnlyOption);
    this.log = new RaftLog(c.storage);

    const { hardState, confState } = c.storage.initialState();
    const restored = restore(confState, this.log.lastIndex(), { maxInflight: this.maxInflightMsgs, maxInflightBytes: this.maxInflightBytes });
    this.tracker = new ProgressTracker(this.maxInflightMsgs, this.maxInflightBytes);
    this.tracker.config = restored.config;
    this.tracker.progress = restored.progress;
    this.isLearner = this.tracker.progress.get(this.id)?.isLearner ?? false;
    if (hardState.term !== 0 || hardState.vote !== NONE || hardState.commit !== 0) this.loadState(hardState);
    if (c.applied) this.log.appliedTo(c.applied);
    this.step_ = this.stepFollower;
    this.tick_ = this.tickElection;
    this.becomeFollower(this.term, NONE);
    this.prevHardState = this.hardState();
    this.prevSoft = { leader: this.lead, role: this.role };
  }

  private loadState(hs: HardState): void {
    if (hs.commit < this.log.committed || hs.commit > this.log.lastIndex()) {
      throw new Error(`raft: hard state commit ${hs.commit} is out of range [${this.log.committed}, ${this.log.lastIndex()}]`);
    }
    this.log.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  // ---- the driver's interface ------------------------------------------------------------

  /** One logical clock tick. */
  tick(): void {
    this.tick_();
  }

  /** Start an election now (the application asks, e.g. for a single-node cluster). */
  campaign(): void {
    this.step(message({ type: MessageType.Hup, from: this.id }));
  }

  /** Propose data for the log; refused (an AxisError with a code) when it cannot be accepted now. */
  propose(data: Uint8Array): void {
    this.step(message({ type: MessageType.Prop, from: this.id, entries: [{ term: 0, index: 0, type: EntryType.Normal, data }] }));
  }

  /** Ask for a linearizable read point; answered as a ReadState carrying `requestId`. */
  readIndex(requestId: Uint8Array): void {
    this.step(message({ type: MessageType.ReadIndex, from: this.id, entries: [{ term: 0, index: 0, type: EntryType.Normal, data: requestId }] }));
  }

  /**
   * Propose a membership change. Several changes (or transition 'explicit'/'implicit') go through
   * a joint configuration; an empty change leaves one. Refused while another change is unapplied.
   */
  proposeConfChange(cc: ConfChange): void {
    this.step(message({ type: MessageType.Prop, from: this.id, entries: [{ term: 0, index: 0, type: EntryType.ConfChange, data: encodeConfChange(cc) }] }));
  }

  /**
   * The application applies a committed ConfChange entry by calling this; it returns the new
   * membership to store with the applied state.
   */
  applyConfChange(cc: ConfChange): ConfState {
    const changer = new ConfChanger(
      { config: this.tracker.config, progress: this.tracker.progress, maxInflight: this.maxInflightMsgs, maxInflightBytes: this.maxInflightBytes },
      this.log.lastIndex(),
    );
    let next: ReturnType<ConfChanger['apply']>;
    try {
      next = changer.apply(cc);
    } catch (err) {
      // An invalid change (e.g. removing every voter) is committed on every node alike: all of
      // them skip it the same way, and the membership stays as it was.
      if (isRaftError(err, RaftErrorReason.CONF_CHANGE_INVALID)) return this.tracker.confState();
      throw err;
    }
    this.tracker.config = next.config;
    this.tracker.progress = next.progress;
    const cs = this.tracker.confState();
    const self = this.tracker.progress.get(this.id);
    this.isLearner = self?.isLearner ?? false;
    if ((!self || this.isLearner) && this.role === Role.Leader) {
      // Removed or demoted: a leader outside the voters steps down. Callers should transfer
      // leadership before removing the leader: if it steps down before the others learn that the
      // change committed, they may be unable to elect anyone (as in etcd-io/raft).
      this.becomeFollower(this.term, NONE);
      return cs;
    }
    if (this.role !== Role.Leader || cs.voters.length === 0) return cs;
    // The new quorum may commit more; new members are probed either way.
    if (this.maybeCommit()) this.bcastAppend();
    else for (const id of this.tracker.progress.keys()) if (id !== this.id) this.maybeSendAppend(id, false);
    if (this.leadTransferee !== NONE && !this.tracker.config.voters.has(this.leadTransferee)) this.leadTransferee = NONE;
    return cs;
  }

  /** Hand leadership to `transferee` (at the leader, or forwarded to it). */
  transferLeader(transferee: NodeId): void {
    this.step(message({ type: MessageType.TransferLeader, from: transferee, to: this.id }));
  }

  /** The transport could not deliver to `id`: probe it again instead of streaming. */
  reportUnreachable(id: NodeId): void {
    this.step(message({ type: MessageType.Unreachable, from: id }));
  }

  hasReady(): boolean {
    const hs = this.hardState();
    return (
      this.msgs.length > 0 ||
      this.msgsAfterPersist.length > 0 ||
      this.log.unstableEntries().length > 0 ||
      this.log.unstableSnapshot() !== undefined ||
      this.log.hasNextCommittedEntries() ||
      this.readStates.length > 0 ||
      !sameHardState(hs, this.prevHardState) ||
      this.lead !== this.prevSoft.leader ||
      this.role !== this.prevSoft.role
    );
  }

  /** The work to do now. Call advance() once it is done (persisted, sent, applied). */
  ready(): Ready {
    const rd: Ready = {
      entries: this.log.unstableEntries().slice(),
      committedEntries: this.log.nextCommittedEntries(),
      messages: this.msgs,
      messagesAfterPersist: this.msgsAfterPersist,
      readStates: this.readStates,
    };
    const snap = this.log.unstableSnapshot();
    if (snap) rd.snapshot = snap;
    const hs = this.hardState();
    if (!sameHardState(hs, this.prevHardState)) rd.hardState = hs;
    if (this.lead !== this.prevSoft.leader || this.role !== this.prevSoft.role) rd.softState = { leader: this.lead, role: this.role };
    this.msgs = [];
    this.msgsAfterPersist = [];
    this.readStates = [];
    return rd;
  }

  /**
   * The messages that need nothing persisted first (what the next Ready's `messages` would hold),
   * taken now: a driver busy with a Ready sends a leader's new appends and heartbeats at once
   * instead of after that Ready's write (Raft thesis §10.2.1). Never messagesAfterPersist.
   */
  takeMessages(): Message[] {
    const m = this.msgs;
    this.msgs = [];
    return m;
  }

  /** The Ready `rd` is done: its state is durable and its committed entries applied. */
  advance(rd: Ready): void {
    if (rd.hardState) this.prevHardState = rd.hardState;
    if (rd.softState) this.prevSoft = rd.softState;
    if (rd.snapshot) {
      // The application restored its state from the snapshot: that is applied, too.
      this.log.stableSnapTo(rd.snapshot.meta.index);
      if (rd.snapshot.meta.index > this.log.applied) this.log.appliedTo(rd.snapshot.meta.index);
    }
    const last = rd.entries[rd.entries.length - 1];
    if (last) this.log.stableTo(last.index, last.term);
    const lastApplied = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastApplied) this.appliedTo(lastApplied.index, rd.committedEntries);
    if (this.role === Role.Leader && (last || rd.snapshot)) {
      // Our own copy is durable now: it counts towards the commit.
      const self = this.tracker.progress.get(this.id);
      if (self && self.maybeUpdate(this.stableLastIndex()) && this.maybeCommit()) this.bcastAppend();
    }
  }

  /** The last index that is both durable and current (a pending conflict replaces what follows). */
  private stableLastIndex(): number {
    return Math.min(this.log.storage.lastIndex(), this.log.unstable.offset - 1);
  }

  private appliedTo(index: number, applied: Entry[]): void {
    this.log.appliedTo(index);
    if (this.role !== Role.Leader) return;
    let size = 0;
    for (const e of applied) size += e.data.length;
    this.reduceUncommittedSize(size);
    // A joint configuration entered with autoLeave is left as soon as it is applied.
    if (this.tracker.config.autoLeave && index >= this.pendingConfIndex && this.tracker.config.voters.isJoint()) {
      try {
        this.proposeConfChange({ transition: 'auto', changes: [] });
      } catch (err) {
        // e.g. a transfer under way: tried again at the next applied entry.
        if (!isAxisError(err)) throw err;
      }
    }
  }

  // ---- roles ----------------------------------------------------------------------------

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.tracker.resetVotes();
    const last = this.log.lastIndex();
    for (const [id, pr] of this.tracker.progress) {
      const fresh = new Progress({ next: last + 1, inflights: new Inflights(this.maxInflightMsgs, this.maxInflightBytes), isLearner: pr.isLearner });
      if (id === this.id) fresh.match = this.stableLastIndex();
      this.tracker.progress.set(id, fresh);
    }
    this.uncommittedSize = 0;
    this.readOnly = new ReadOnly(this.readOnlyOption);
    this.pendingReads = [];
    this.leadTransferee = NONE;
    this.pendingConfIndex = 0;
  }

  private resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.electionTimeout + Math.floor(this.random() * this.electionTimeout);
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.step_ = this.stepFollower;
    this.reset(term);
    this.tick_ = this.tickElection;
    this.lead = lead;
    this.role = Role.Follower;
  }

  private becomeCandidate(): void {
    if (this.role === Role.Leader) throw new Error('raft: invalid transition [leader -> candidate]');
    this.step_ = this.stepCandidate;
    this.reset(this.term + 1);
    this.tick_ = this.tickElection;
    this.vote = this.id;
    this.role = Role.Candidate;
  }

  private becomePreCandidate(): void {
    if (this.role === Role.Leader) throw new Error('raft: invalid transition [leader -> pre-candidate]');
    // A pre-candidate changes neither its term nor its vote.
    this.step_ = this.stepCandidate;
    this.tracker.resetVotes();
    this.tick_ = this.tickElection;
    this.lead = NONE;
    this.role = Role.PreCandidate;
  }

  private becomeLeader(): void {
    if (this.role === Role.Follower) throw new Error('raft: invalid transition [follower -> leader]');
    this.step_ = this.stepLeader;
    this.reset(this.term);
    this.tick_ = this.tickHeartbeat;
    this.lead = this.id;
    this.role = Role.Leader;
    // Followers start probed; our own progress streams, and we are always active to ourselves.
    const self = this.tracker.progress.get(this.id);
    if (self) {
      self.becomeReplicate();
      self.recentActive = true;
    }
    // There may be an unapplied membership change in the log: allow none until all of it is applied.
    this.pendingConfIndex = this.log.lastIndex();
    // A no-op in our term: committing it commits everything before it (§5.4.2), and reads wait for it.
    this.appendEntry([{ term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array() }]);
  }

  // ---- ticks ----------------------------------------------------------------------------

  private tickElection = (): void => {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.step(message({ type: MessageType.Hup, from: this.id }));
    }
  };

  private tickHeartbeat = (): void => {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) this.step(message({ type: MessageType.CheckQuorum, from: this.id }));
      // A transfer not done within an election timeout is abandoned: proposals flow again.
      if (this.role === Role.Leader && this.leadTransferee !== NONE) this.leadTransferee = NONE;
    }
    if (this.role !== Role.Leader) return;
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.step(message({ type: MessageType.Beat, from: this.id }));
    }
  };

  /** Can this node become leader? (a voter that is in the configuration) */
  private promotable(): boolean {
    return this.tracker.config.voters.has(this.id) && !this.isLearner;
  }

  // ---- elections ------------------------------------------------------------------------

  private hup(transfer = false): void {
    if (this.role === Role.Leader) return;
    if (!this.promotable()) return;
    // Campaigning with unapplied membership changes could elect a node under a stale config.
    if (this.hasUnappliedConfChanges()) return;
    // A transfer asked for by the leader skips the pre-vote: the leader has stepped aside.
    if (this.preVote && !transfer) this.campaignAs(Role.PreCandidate);
    else this.campaignAs(Role.Candidate, transfer);
  }

  private hasUnappliedConfChanges(): boolean {
    if (this.log.applied >= this.log.committed) return false;
    for (const e of this.log.slice(this.log.applied + 1, this.log.committed + 1)) {
      if (e.type === EntryType.ConfChange) return true;
    }
    return false;
  }

  private campaignAs(role: Role.PreCandidate | Role.Candidate, transfer = false): void {
    let term: number;
    let type: MessageType;
    if (role === Role.PreCandidate) {
      this.becomePreCandidate();
      type = MessageType.PreVote;
      // A pre-vote asks about the next term without moving to it.
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      type = MessageType.Vote;
      term = this.term;
    }
    // Our own vote first: a single-voter cluster wins at once.
    if (this.poll(this.id, type === MessageType.Vote ? MessageType.VoteResp : MessageType.PreVoteResp, true) === 'won') {
      if (role === Role.PreCandidate) this.campaignAs(Role.Candidate);
      else this.becomeLeader();
      return;
    }
    for (const id of this.tracker.voterNodes()) {
      if (id === this.id) continue;
      const m = message({ type, to: id, term, index: this.log.lastIndex(), logTerm: this.log.lastTerm(), ...(transfer ? { transfer } : {}) });
      this.send(m);
    }
  }

  private poll(id: NodeId, _type: MessageType, granted: boolean): 'won' | 'lost' | 'pending' {
    this.tracker.recordVote(id, granted);
    return this.tracker.tallyVotes().result;
  }

  // ---- step -----------------------------------------------------------------------------

  /** Feed one message (from a peer, or local). Throws an AxisError for a request refused (no leader, transfer under way...). */
  step(m: Message): void {
    // A message no correct node sends (a forgery, a bug) is not acted on at all.
    if (impossible(m) !== undefined) return;
    // Term bookkeeping first (§5.1), with PreVote's and CheckQuorum's exceptions.
    if (m.term === 0) {
      // local message
    } else if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        // A leader lease: while we hear from a leader, ignore vote requests (CheckQuorum).
        const inLease = this.checkQuorum && this.lead !== NONE && this.electionElapsed < this.electionTimeout;
        if (inLease && !m.transfer) return;
      }
      if (m.type === MessageType.PreVote) {
        // Never change our term for a pre-vote.
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // The term in a granted pre-vote response is the one we asked about; once we win,
        // we move to it ourselves.
      } else if (m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === MessageType.Heartbeat || m.type === MessageType.App)) {
        // A stale leader (maybe partitioned away): tell it our term so it steps down; without this,
        // CheckQuorum/PreVote could leave it unable to ever learn of the new term.
        this.send(message({ type: MessageType.AppResp, to: m.from }));
      } else if (m.type === MessageType.PreVote) {
        // Reject so a pre-candidate with a stale term moves on.
        this.send(message({ type: MessageType.PreVoteResp, to: m.from, term: this.term, reject: true }));
      }
      // Other messages from older terms are ignored.
      return;
    }

    switch (m.type) {
      case MessageType.Hup:
        this.hup();
        return;
      case MessageType.Vote:
      case MessageType.PreVote: {
        // We can vote for m.from if we voted for it already (a repeat), have not voted and know no
        // leader in this term, or it is a pre-vote for a later term.
        const canVote =
          this.vote === m.from ||
          (this.vote === NONE && this.lead === NONE) ||
          (m.type === MessageType.PreVote && m.term > this.term);
        const respType = m.type === MessageType.Vote ? MessageType.VoteResp : MessageType.PreVoteResp;
        if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
          // The response carries the term asked about (for a pre-vote, not our own).
          this.send(message({ type: respType, to: m.from, term: m.term }));
          if (m.type === MessageType.Vote) {
            this.electionElapsed = 0;
            this.vote = m.from;
          }
        } else {
          this.send(message({ type: respType, to: m.from, term: this.term, reject: true }));
        }
        return;
      }
      default:
        this.step_(m);
    }
  }

  // ---- leader ---------------------------------------------------------------------------

  private stepLeader: StepFn = (m) => {
    switch (m.type) {
      case MessageType.Beat:
        this.bcastHeartbeat();
        return;
      case MessageType.CheckQuorum:
        if (!this.tracker.quorumActive()) this.becomeFollower(this.term, NONE);
        // Mark everyone inactive until they speak again in the next window.
        for (const [id, pr] of this.tracker.progress) if (id !== this.id) pr.recentActive = false;
        return;
      case MessageType.Prop: {
        if (!this.tracker.progress.has(this.id)) {
          throw raftError(RaftErrorReason.NOT_LEADER, 'this leader was removed from the configuration');
        }
        if (this.leadTransferee !== NONE) {
          throw raftError(RaftErrorReason.TRANSFER_IN_PROGRESS, `leadership is being transferred to ${this.leadTransferee}`);
        }
        m.entries.forEach((e, i) => {
          if (e.type !== EntryType.ConfChange) return;
          const cc = decodeConfChange(e.data);
          const joint = this.tracker.config.voters.isJoint();
          if (this.pendingConfIndex > this.log.applied) {
            throw raftError(RaftErrorReason.CONF_CHANGE_PENDING, `a membership change at index ${this.pendingConfIndex} is not applied yet`);
          }
          if (joint && cc.changes.length > 0) {
            throw raftError(RaftErrorReason.CONF_CHANGE_INVALID, 'the configuration is joint: leave it first');
          }
          if (!joint && cc.changes.length === 0) {
            throw raftError(RaftErrorReason.CONF_CHANGE_INVALID, 'the configuration is not joint: nothing to leave');
          }
          this.pendingConfIndex = this.log.lastIndex() + i + 1;
        });
        if (!this.appendEntry(m.entries)) {
          throw raftError(RaftErrorReason.TOO_MANY_REQUESTS, 'too many uncommitted entries; try again later');
        }
        this.bcastAppend();
        return;
      }
      case MessageType.ReadIndex:
        this.leaderReadIndex(m);
        return;
    }

    const pr = this.tracker.progress.get(m.from);
    if (!pr) return; // not (any more) in the configuration
    switch (m.type) {
      case MessageType.AppResp:
        pr.recentActive = true;
        if (m.reject) {
          // Fast backtracking: the follower told us where its log might match ours (rejectHint,
          // with that entry's term in logTerm); skip whole terms we know differ.
          let nextProbe = m.rejectHint;
          if (m.logTerm > 0) nextProbe = this.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
          if (pr.maybeDecrTo(m.index, nextProbe)) {
            if (pr.state === 'replicate') pr.becomeProbe();
            this.sendAppend(m.from);
          }
        } else {
          // An acknowledgement of entries this leader never had is no follower's: a forgery.
          if (m.index > this.log.lastIndex()) return;
          const oldPaused = pr.isPaused();
          if (pr.maybeUpdate(m.index)) {
            if (pr.state === 'probe') pr.becomeReplicate();
            else if (pr.state === 'snapshot' && pr.match + 1 >= this.log.firstIndex()) {
              // The snapshot (or appends) got it to where our log continues: stream from there.
              pr.becomeProbe();
              pr.becomeReplicate();
            } else if (pr.state === 'replicate') pr.inflights.freeLE(m.index);
            if (this.maybeCommit()) {
              this.bcastAppend();
            } else if (oldPaused) {
              // It was paused; now there is room again.
              this.sendAppend(m.from);
            }
            // Stream what else there is to send while there is room.
            while (this.maybeSendAppend(m.from, false)) {
              // keep filling the pipeline
            }
            // The transferee has caught up: tell it to campaign now.
            if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
              this.send(message({ type: MessageType.TimeoutNow, to: m.from }));
            }
          }
        }
        return;
      case MessageType.HeartbeatResp:
        pr.recentActive = true;
        pr.msgAppFlowPaused = false;
        if (pr.match < this.log.lastIndex()) this.sendAppend(m.from);
        if (this.readOnlyOption !== 'safe' || !m.context || m.context.length === 0) return;
        for (const rs of this.readOnly.recvAck(m.from, m.context, this.tracker.config.voters)) {
          this.releaseRead(rs.from, rs.index, rs.requestId);
        }
        return;
      case MessageType.Unreachable:
        // An unreachable follower in replicate state lost messages: probe it.
        if (pr.state === 'replicate') pr.becomeProbe();
        return;
      case MessageType.SnapStatus:
        if (pr.state !== 'snapshot') return;
        // Sent or failed, probe next: an answer tells us where it stands.
        if (m.reject) pr.pendingSnapshot = 0;
        pr.becomeProbe();
        pr.msgAppFlowPaused = true;
        return;
      case MessageType.TransferLeader: {
        if (pr.isLearner) return; // a learner cannot lead
        const transferee = m.from;
        if (this.leadTransferee === transferee) return; // already under way
        this.leadTransferee = NONE;
        if (transferee === this.id) return; // we lead already
        // It must be done within an election timeout.
        this.electionElapsed = 0;
        this.leadTransferee = transferee;
        if (pr.match === this.log.lastIndex()) this.send(message({ type: MessageType.TimeoutNow, to: transferee }));
        else this.sendAppend(transferee);
        return;
      }
    }
  };

  /** Append entries to our log as leader; false (nothing appended) when over the uncommitted cap. */
  private appendEntry(es: Entry[]): boolean {
    let li = this.log.lastIndex();
    const stamped = es.map((e) => ({ ...e, term: this.term, index: ++li }));
    if (!this.increaseUncommittedSize(stamped)) return false;
    this.log.append(stamped);
    // Our own progress moves when the entries are durable (advance), not now.
    return true;
  }

  private increaseUncommittedSize(es: Entry[]): boolean {
    let s = 0;
    for (const e of es) s += e.data.length;
    // Always accept something when nothing is outstanding, so a large entry cannot wedge the log.
    if (this.uncommittedSize > 0 && s > 0 && this.maxUncommittedSize > 0 && this.uncommittedSize + s > this.maxUncommittedSize) {
      return false;
    }
    this.uncommittedSize += s;
    return true;
  }

  private reduceUncommittedSize(s: number): void {
    this.uncommittedSize = s > this.uncommittedSize ? 0 : this.uncommittedSize - s;
  }

  private maybeCommit(): boolean {
    if (!this.log.maybeCommit(this.tracker.committed(), this.term)) return false;
    this.releasePendingReads();
    return true;
  }

  private bcastAppend(): void {
    for (const id of this.tracker.progress.keys()) if (id !== this.id) this.sendAppend(id);
  }

  private bcastHeartbeat(ctx = this.readOnly.lastPendingRequestContext()): void {
    for (const [id, pr] of this.tracker.progress) {
      if (id === this.id) continue;
      // A follower commits no further than what it is known to hold.
      const commit = Math.min(pr.match, this.log.committed);
      this.send(message({ type: MessageType.Heartbeat, to: id, commit, ...(ctx ? { context: ctx } : {}) }));
    }
  }

  private sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  /**
   * Sends entries (or an empty probe) to `to` if its progress allows; false if nothing was sent.
   * `sendIfEmpty`: also send when there is nothing new (to carry the commit index).
   */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.tracker.progress.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    // The entries it needs are compacted away: it needs a snapshot.
    if (prevTerm === undefined || pr.next < this.log.firstIndex()) return this.maybeSendSnapshot(to, pr);
    let ents: Entry[] = [];
    if (pr.state !== 'replicate' || !pr.inflights.full()) {
      ents = this.log.entriesFrom(pr.next, this.maxMsgSize);
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.send(message({ type: MessageType.App, to, index: prevIndex, logTerm: prevTerm, entries: ents, commit: this.log.committed }));
    let bytes = 0;
    for (const e of ents) bytes += e.data.length;
    pr.updateOnEntriesSend(ents.length, bytes, pr.next);
    return true;
  }

  /** InstallSnapshot (§7): the follower gets the state at the snapshot, then the log after it. */
  private maybeSendSnapshot(to: NodeId, pr: Progress): boolean {
    // A member we have not heard from lately may be down: a snapshot is too big to send blind.
    if (!pr.recentActive) return false;
    const snap = this.log.snapshot();
    if (snap.meta.index === 0) throw new Error('raft: a snapshot is needed but the storage has none');
    pr.becomeSnapshot(snap.meta.index);
    const total = snap.data.length;
    const size = this.maxSnapshotChunk;
    if (size <= 0 || total <= size) {
      this.send(message({ type: MessageType.Snap, to, snapshot: snap }));
      return true;
    }
    // Streamed in order; the follower installs it once the last chunk is in. The progress stays in
    // snapshot state (nothing else is sent) until the follower answers or the transport reports.
    for (let offset = 0; offset < total; offset += size) {
      const data = snap.data.subarray(offset, Math.min(total, offset + size));
      this.send(message({ type: MessageType.Snap, to, snapshot: { meta: snap.meta, data }, chunk: { offset, total } }));
    }
    return true;
  }

  private leaderReadIndex(m: Message): void {
    const requestId = m.entries[0]?.data ?? new Uint8Array();
    if (this.tracker.isSingleton()) {
      this.releaseRead(m.from, this.log.committed, requestId);
      return;
    }
    // Until our no-op of this term commits, we do not know the cluster's commit index: hold the read.
    if (this.log.term(this.log.committed) !== this.term) {
      this.pendingReads.push(m);
      return;
    }
    this.confirmRead(m, requestId);
  }

  private confirmRead(m: Message, requestId: Uint8Array): void {
    if (this.readOnlyOption === 'lease') {
      this.releaseRead(m.from, this.log.committed, requestId);
      return;
    }
    this.readOnly.addRequest(this.log.committed, m.from, requestId);
    // Confirmed by one heartbeat round; several reads share one round.
    this.readOnly.recvAck(this.id, requestId, this.tracker.config.voters);
    this.bcastHeartbeat(requestId);
  }

  /** Reads held until the no-op of our term committed: confirm them now. */
  private releasePendingReads(): void {
    if (this.pendingReads.length === 0 || this.log.term(this.log.committed) !== this.term) return;
    const held = this.pendingReads;
    this.pendingReads = [];
    for (const m of held) this.confirmRead(m, m.entries[0]?.data ?? new Uint8Array());
  }

  private releaseRead(from: NodeId, index: number, requestId: Uint8Array): void {
    if (from === NONE || from === this.id) {
      this.readStates.push({ index, requestId });
    } else {
      this.send(message({ type: MessageType.ReadIndexResp, to: from, index, entries: [{ term: 0, index: 0, type: EntryType.Normal, data: requestId }] }));
    }
  }

  // ---- candidate ------------------------------------------------------------------------

  private stepCandidate: StepFn = (m) => {
    // Only responses to our own kind of request count.
    const myResp = this.role === Role.PreCandidate ? MessageType.PreVoteResp : MessageType.VoteResp;
    switch (m.type) {
      case MessageType.Prop:
        throw raftError(RaftErrorReason.NO_LEADER, 'no leader; an election is under way');
      case MessageType.ReadIndex:
        throw raftError(RaftErrorReason.NO_LEADER, 'no leader; an election is under way');
      case MessageType.App:
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case myResp: {
        const result = this.poll(m.from, m.type, !m.reject);
        if (result === 'won') {
          if (this.role === Role.PreCandidate) this.campaignAs(Role.Candidate);
          else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (result === 'lost') {
          // A rejection in a later term moved us already; here the vote was lost in this one.
          this.becomeFollower(this.term, NONE);
        }
        return;
      }
    }
  };

  // ---- follower -------------------------------------------------------------------------

  private stepFollower: StepFn = (m) => {
    switch (m.type) {
      case MessageType.Prop:
        if (this.lead === NONE) throw raftError(RaftErrorReason.NO_LEADER, 'no leader to forward the proposal to');
        this.send({ ...m, to: this.lead });
        return;
      case MessageType.App:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppend(m);
        return;
      case MessageType.Heartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case MessageType.ReadIndex:
        if (this.lead === NONE) throw raftError(RaftErrorReason.NO_LEADER, 'no leader to confirm the read');
        this.send({ ...m, to: this.lead });
        return;
      case MessageType.ReadIndexResp:
        this.readStates.push({ index: m.index, requestId: m.entries[0]?.data ?? new Uint8Array() });
        return;
      case MessageType.TransferLeader:
        if (this.lead === NONE) throw raftError(RaftErrorReason.NO_LEADER, 'no leader to hand leadership over');
        this.send({ ...m, to: this.lead });
        return;
      case MessageType.TimeoutNow:
        // The leader asks us to take over: campaign at once, skipping the pre-vote.
        this.hup(true);
        return;
    }
  };

  private handleAppend(m: Message): void {
    if (m.index < this.log.committed) {
      // Old news: tell the leader what we have committed.
      this.send(message({ type: MessageType.AppResp, to: m.from, index: this.log.committed }));
      return;
    }
    const last = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (last !== undefined) {
      this.send(message({ type: MessageType.AppResp, to: m.from, index: last }));
      return;
    }
    // Our log does not hold (index, logTerm): reject with a hint, skipping terms the leader's log
    // cannot share with ours (etcd's fast backtracking).
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.send(
      message({ type: MessageType.AppResp, to: m.from, index: m.index, reject: true, rejectHint: hint.index, logTerm: hint.term }),
    );
  }

  private handleSnapshot(m: Message): void {
    let s = m.snapshot;
    if (s && m.chunk) {
      s = this.assembleSnapshot(m, s);
      if (!s) return; // more to come (or a chunk out of place, dropped: the leader sends it again)
    }
    if (s && this.restoreSnapshot(s)) {
      this.send(message({ type: MessageType.AppResp, to: m.from, index: this.log.lastIndex() }));
    } else {
      this.send(message({ type: MessageType.AppResp, to: m.from, index: this.log.committed }));
    }
  }

  /**
   * Collects a chunked snapshot (chunks may come late, twice or out of order); returns it whole
   * once every byte is in. A chunk of another snapshot starts over; a lost one leaves it waiting
   * until the leader streams the snapshot again.
   */
  private assembleSnapshot(m: Message, part: Snapshot): Snapshot | undefined {
    const { offset, total } = m.chunk!;
    let cur = this.incomingSnapshot;
    if (!cur || cur.from !== m.from || cur.index !== part.meta.index || cur.term !== part.meta.term) {
      cur = { from: m.from, index: part.meta.index, term: part.meta.term, parts: new Map(), received: 0 };
      this.incomingSnapshot = cur;
    }
    if (!cur.parts.has(offset)) {
      cur.parts.set(offset, part.data);
      cur.received += part.data.length;
    }
    if (cur.received < total) return undefined;
    this.incomingSnapshot = undefined;
    const ordered = [...cur.parts.entries()].sort((a, b) => a[0] - b[0]).map(([, d]) => d);
    return { meta: part.meta, data: Buffer.concat(ordered) };
  }

  /** Takes a snapshot as our state, if it is news: replaces the log and the membership. */
  private restoreSnapshot(s: Snapshot): boolean {
    if (s.meta.index <= this.log.committed) return false;
    if (this.role !== Role.Follower) {
      // Only a leader's follower installs snapshots; anything else is a bug elsewhere.
      this.becomeFollower(this.term + 1, NONE);
      return false;
    }
    const cs = s.meta.confState;
    if (![...cs.voters, ...cs.learners, ...cs.votersOutgoing].includes(this.id)) return false; // not for a member
    if (this.log.matchTerm(s.meta.index, s.meta.term)) {
      // We have the snapshot's last entry already: just commit up to it.
      this.log.commitTo(s.meta.index);
      return false;
    }
    this.log.restore(s);
    const restored = restore(cs, this.log.lastIndex(), { maxInflight: this.maxInflightMsgs, maxInflightBytes: this.maxInflightBytes });
    this.tracker = new ProgressTracker(this.maxInflightMsgs, this.maxInflightBytes);
    this.tracker.config = restored.config;
    this.tracker.progress = restored.progress;
    this.isLearner = this.tracker.progress.get(this.id)?.isLearner ?? false;
    return true;
  }

  /** The application could not deliver a snapshot to `id` (or could): resume replication. */
  reportSnapshot(id: NodeId, ok: boolean): void {
    this.step(message({ type: MessageType.SnapStatus, from: id, reject: !ok }));
  }

  private handleHeartbeat(m: Message): void {
    // A leader sends at most what it knows we hold (§5.3); a commit past our log is no leader's
    // word on it: taking our last index for committed could commit entries of an old term.
    if (m.commit <= this.log.lastIndex()) this.log.commitTo(m.commit);
    this.send(message({ type: MessageType.HeartbeatResp, to: m.from, ...(m.context ? { context: m.context } : {}) }));
  }

  // ---- sending --------------------------------------------------------------------------

  private send(m: Message): void {
    // A forwarded message keeps its origin (a transfer names the transferee in `from`).
    if (m.from === NONE) m.from = this.id;
    // Vote requests and responses carry their own term (a pre-vote asks about the next one);
    // everything else is stamped with ours. Local messages carry none.
    if (m.type === MessageType.Vote || m.type === MessageType.PreVote || m.type === MessageType.VoteResp || m.type === MessageType.PreVoteResp) {
      if (m.term === 0 && !m.reject) throw new Error(`raft: ${m.type} without a term`);
    } else if (m.type !== MessageType.Prop && m.type !== MessageType.ReadIndex) {
      m.term = this.term;
    }
    // What depends on durable state waits for the persist: a vote (ours or for another), and
    // acknowledgements of appended entries.
    if (m.type === MessageType.Vote || m.type === MessageType.VoteResp || m.type === MessageType.AppResp) {
      this.msgsAfterPersist.push(m);
    } else {
      this.msgs.push(m);
    }
  }

}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}
