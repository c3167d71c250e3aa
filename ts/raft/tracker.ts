/**
 * What a leader knows of its followers (etcd-io/raft's tracker package): per follower a Progress
 * with its in-flight appends, and for the group the active membership, its votes and commit index.
 */
import { RaftErrorReason, raftError } from './errors.js';
import { JointConfig, MajorityConfig, type VoteResult } from './quorum.js';
import type { ConfState, NodeId } from './types.js';

/**
 * The append messages sent to a follower and not yet acknowledged, each remembered by the index of
 * its last entry and its byte size, bounded in count and (softly) in bytes.
 */
export class Inflights {
  /** The most messages in flight at once. */
  readonly capacity: number;
  /** The most bytes in flight, 0 for no limit; soft: the message crossing it is still accepted. */
  readonly maxBytes: number;
  #start = 0;
  #count = 0;
  #bytes = 0;
  // A ring of at most `capacity` slots, grown on demand: thousands of groups per process are idle.
  #indexes: number[] = [];
  #sizes: number[] = [];

  constructor(capacity: number, maxBytes = 0) {
    this.capacity = capacity;
    this.maxBytes = maxBytes;
  }

  get count(): number {
    return this.#count;
  }

  get bytes(): number {
    return this.#bytes;
  }

  full(): boolean {
    return this.#count === this.capacity || (this.maxBytes !== 0 && this.#bytes >= this.maxBytes);
  }

  /** Records a message ending at `index`; indexes must rise from call to call, and full() must be false. */
  add(index: number, bytes: number): void {
    if (this.full()) throw raftError(RaftErrorReason.INVARIANT_VIOLATED, 'cannot add into a full inflights');
    let next = this.#start + this.#count;
    if (next >= this.capacity) next -= this.capacity;
    if (next >= this.#indexes.length) this.#grow();
    this.#indexes[next] = index;
    this.#sizes[next] = bytes;
    this.#count++;
    this.#bytes += bytes;
  }

  /** Frees every message whose last index is <= `index` (the follower acknowledged up to it). */
  freeLE(index: number): void {
    if (this.#count === 0 || index < (this.#indexes[this.#start] ?? 0)) return;
    let slot = this.#start;
    let freed = 0;
    let freedBytes = 0;
    for (; freed < this.#count; freed++) {
      if (index < (this.#indexes[slot] ?? 0)) break;
      freedBytes += this.#sizes[slot] ?? 0;
      if (++slot >= this.capacity) slot -= this.capacity;
    }
    this.#count -= freed;
    this.#bytes -= freedBytes;
    // Restart at slot 0 when empty so the ring does not grow for nothing.
    this.#start = this.#count === 0 ? 0 : slot;
  }

  reset(): void {
    this.#start = 0;
    this.#count = 0;
    this.#bytes = 0;
  }

  clone(): Inflights {
    const copy = new Inflights(this.capacity, this.maxBytes);
    copy.#start = this.#start;
    copy.#count = this.#count;
    copy.#bytes = this.#bytes;
    copy.#indexes = [...this.#indexes];
    copy.#sizes = [...this.#sizes];
    return copy;
  }

  #grow(): void {
    const size = Math.min(Math.max(this.#indexes.length * 2, 1), this.capacity);
    // Slots keep their positions: below capacity the live range never wraps, so extending is enough.
    while (this.#indexes.length < size) {
      this.#indexes.push(0);
      this.#sizes.push(0);
    }
  }
}

/**
 * How the leader talks to a follower: 'probe' sends one append per heartbeat until the follower's
 * log is found, 'replicate' streams appends optimistically, 'snapshot' waits for a snapshot.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export interface ProgressInit {
  next: number;
  inflights: Inflights;
  match?: number;
  isLearner?: boolean;
  recentActive?: boolean;
}

/** A follower as the leader sees it. Invariant: 0 <= match < next. */
export class Progress {
  /** The follower's log is known to match the leader's up to here. */
  match: number;
  /** The next index to send; entries in (match, next) are in flight. */
  next: number;
  state: ProgressState = 'probe';
  /** In 'snapshot': the leader's last index when it decided a snapshot was needed. */
  pendingSnapshot = 0;
  /** Heard from since the last CheckQuorum round; always true for the leader itself. */
  recentActive: boolean;
  /** Appends are throttled: set by a probe or a full window, cleared by a response or heartbeat response. */
  msgAppFlowPaused = false;
  readonly inflights: Inflights;
  isLearner: boolean;
  // The highest commit index sent to the follower; may regress when the follower turns out to be behind.
  #pendingCommit = 0;

  constructor(init: ProgressInit) {
    this.match = init.match ?? 0;
    this.next = init.next;
    this.inflights = init.inflights;
    this.isLearner = init.isLearner ?? false;
    this.recentActive = init.recentActive ?? false;
  }

  /** The highest commit index in flight to the follower. */
  get pendingCommit(): number {
    return this.#pendingCommit;
  }

  /** Moves to `state`, unpausing, forgetting the pending snapshot and every in-flight message. */
  resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  /** Probes from match+1, or past a snapshot just sent if that is further. */
  becomeProbe(): void {
    if (this.state === 'snapshot') {
      const pendingSnapshot = this.pendingSnapshot;
      this.resetState('probe');
      this.next = Math.max(this.match + 1, pendingSnapshot + 1);
    } else {
      this.resetState('probe');
      this.next = this.match + 1;
    }
    this.#pendingCommit = Math.min(this.#pendingCommit, this.next - 1);
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  /** Waits for the snapshot at `snapshotIndex`; the follower will continue from just after it. */
  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
    this.next = snapshotIndex + 1;
    this.#pendingCommit = snapshotIndex;
  }

  /**
   * Notes an append of `entries` entries (`bytes` in all) starting at `nextIndex` being sent.
   * In 'replicate' next moves past them and the message joins the window; a full window makes the
   * message a probe. In 'probe' any non-empty append pauses until the follower answers.
   */
  updateOnEntriesSend(entries: number, bytes: number, nextIndex: number): void {
    switch (this.state) {
      case 'replicate':
        if (entries > 0) {
          const last = nextIndex + entries - 1;
          this.next = last + 1;
          this.inflights.add(last, bytes);
        }
        this.msgAppFlowPaused = this.inflights.full();
        break;
      case 'probe':
        if (entries > 0) this.msgAppFlowPaused = true;
        break;
      default:
        throw raftError(RaftErrorReason.INVARIANT_VIOLATED, `sending append in unhandled state ${this.state}`);
    }
  }

  /** Whether sending commit index `index` could advance the follower's commit index. */
  canBumpCommit(index: number): boolean {
    // The follower cannot commit past next-1, so once that much is sent, more says nothing new.
    return index > this.#pendingCommit && this.#pendingCommit < this.next - 1;
  }

  /** Notes that commit index `commit` was sent. */
  sentCommit(commit: number): void {
    this.#pendingCommit = commit;
  }

  /**
   * Takes an append response acknowledging `n`. False if it is stale (n <= match); otherwise match
   * becomes n, next stays past it, and the flow is unpaused.
   */
  maybeUpdate(n: number): boolean {
    if (n <= this.match) return false;
    this.match = n;
    this.next = Math.max(this.next, n + 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  /**
   * Takes a rejection of the append at `rejected` with the follower's hint `matchHint` (the index
   * up to which its log may match). False if the rejection is stale. In 'replicate' next falls back
   * to match+1; in 'probe' it jumps to min(rejected, matchHint+1) at once, never below match+1,
   * which skips a whole conflicting term per round trip instead of one entry.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      // The commit index sent beyond what the follower has was likely not applied.
      this.#pendingCommit = Math.min(this.#pendingCommit, this.next - 1);
      return true;
    }
    // Outside 'replicate' one append is in flight at a time, so only a rejection of next-1 is current.
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.#pendingCommit = Math.min(this.#pendingCommit, this.next - 1);
    this.msgAppFlowPaused = false;
    return true;
  }

  /** Sending entries is throttled: a paused flow, or a snapshot in progress. */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
      case 'replicate':
        return this.msgAppFlowPaused;
      case 'snapshot':
        return true;
    }
  }

  /** A copy that shares nothing with this one. */
  clone(): Progress {
    const copy = new Progress({
      match: this.match,
      next: this.next,
      inflights: this.inflights.clone(),
      isLearner: this.isLearner,
      recentActive: this.recentActive,
    });
    copy.state = this.state;
    copy.pendingSnapshot = this.pendingSnapshot;
    copy.msgAppFlowPaused = this.msgAppFlowPaused;
    copy.#pendingCommit = this.#pendingCommit;
    return copy;
  }

  /** "replicate match=5 next=9 learner paused pendingSnap=3 inactive inflight=2[full]". */
  describe(): string {
    let out = `${this.state} match=${this.match} next=${this.next}`;
    if (this.isLearner) out += ' learner';
    if (this.isPaused()) out += ' paused';
    if (this.pendingSnapshot > 0) out += ` pendingSnap=${this.pendingSnapshot}`;
    if (!this.recentActive) out += ' inactive';
    if (this.inflights.count > 0) out += ` inflight=${this.inflights.count}${this.inflights.full() ? '[full]' : ''}`;
    return out;
  }
}

export type ProgressMap = Map<NodeId, Progress>;

/** One "id: progress" line per node, by id. */
export function describeProgress(progress: ReadonlyMap<NodeId, Progress>): string {
  return sortedIds(progress.keys())
    .map((id) => `${id}: ${progress.get(id)?.describe()}\n`)
    .join('');
}

/**
 * The membership a tracker acts on. Invariants: learners share no id with either voter half;
 * learnersNext (voters of the outgoing half that become learners when the joint config is left)
 * and autoLeave are only non-empty/true while joint.
 */
export interface TrackerConfig {
  readonly voters: JointConfig;
  /** Leave the joint config by itself once it is committed. */
  readonly autoLeave: boolean;
  readonly learners: ReadonlySet<NodeId>;
  readonly learnersNext: ReadonlySet<NodeId>;
}

export function emptyTrackerConfig(): TrackerConfig {
  return { voters: new JointConfig(), autoLeave: false, learners: new Set(), learnersNext: new Set() };
}

/** "voters=(1 2 3)&&(1 2) learners=(4) learners_next=(5) autoleave", as etcd prints a Config. */
export function describeConfig(config: TrackerConfig): string {
  let out = `voters=${config.voters.toString()}`;
  if (config.learners.size > 0) out += ` learners=${new MajorityConfig(config.learners).toString()}`;
  if (config.learnersNext.size > 0) out += ` learners_next=${new MajorityConfig(config.learnersNext).toString()}`;
  if (config.autoLeave) out += ' autoleave';
  return out;
}

/** The ConfState describing a config, every list ascending. */
export function toConfState(config: TrackerConfig): ConfState {
  return {
    voters: config.voters.incoming.ids(),
    votersOutgoing: config.voters.outgoing.ids(),
    learners: sortedIds(config.learners),
    learnersNext: sortedIds(config.learnersNext),
    autoLeave: config.autoLeave,
  };
}

/** The active membership with every member's Progress, and the votes of the current election. */
export class ProgressTracker {
  config: TrackerConfig = emptyTrackerConfig();
  progress: ProgressMap = new Map();
  votes: Map<NodeId, boolean> = new Map();
  /** Window limits given to each new Progress's Inflights. */
  readonly maxInflight: number;
  readonly maxInflightBytes: number;

  constructor(maxInflight: number, maxInflightBytes = 0) {
    this.maxInflight = maxInflight;
    this.maxInflightBytes = maxInflightBytes;
  }

  confState(): ConfState {
    return toConfState(this.config);
  }

  /** Only one voter (the leader itself) and not joint. */
  isSingleton(): boolean {
    return this.config.voters.incoming.size === 1 && !this.config.voters.isJoint();
  }

  /** The highest index the voters have acknowledged by quorum. */
  committed(): number {
    return this.config.voters.committedIndex((id) => this.progress.get(id)?.match);
  }

  /** Calls `f` for every tracked node in ascending id order, so what it does is deterministic. */
  visit(f: (id: NodeId, progress: Progress) => void): void {
    for (const id of sortedIds(this.progress.keys())) {
      const pr = this.progress.get(id);
      if (pr !== undefined) f(id, pr);
    }
  }

  /** CheckQuorum: a quorum of voters was recently active. */
  quorumActive(): boolean {
    const active = new Map<NodeId, boolean>();
    this.visit((id, pr) => {
      if (!pr.isLearner) active.set(id, pr.recentActive);
    });
    return this.config.voters.voteResult(active) === 'won';
  }

  /** The voters of both halves, ascending. */
  voterNodes(): NodeId[] {
    return this.config.voters.ids();
  }

  learnerNodes(): NodeId[] {
    return sortedIds(this.config.learners);
  }

  resetVotes(): void {
    this.votes = new Map();
  }

  /** Records `id`'s vote; a node's first answer in an election is the one that counts. */
  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  /** Votes granted and rejected by tracked voters (informational), and the election's outcome. */
  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const [id, pr] of this.progress) {
      if (pr.isLearner) continue;
      const vote = this.votes.get(id);
      if (vote === true) granted++;
      else if (vote === false) rejected++;
    }
    return { granted, rejected, result: this.config.voters.voteResult(this.votes) };
  }
}

function sortedIds(ids: Iterable<NodeId>): NodeId[] {
  return [...ids].sort((a, b) => a - b);
}
