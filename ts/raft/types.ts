/**
 * The Raft core's data: entries, hard state, membership, snapshots and messages. Shaped after
 * etcd-io/raft's raftpb, so its papers and tests translate directly.
 */

/** A member id. 0 means "none". */
export type NodeId = number;
export const NONE: NodeId = 0;

export const enum EntryType {
  Normal = 0,
  /** data: an encoded ConfChange (see confchange). */
  ConfChange = 1,
}

export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  data: Uint8Array;
}

/** What must be durable before a vote or an append response leaves the node. */
export interface HardState {
  term: number;
  vote: NodeId;
  commit: number;
}

/** Membership as of an index: voters (outgoing set non-empty while joint), learners. */
export interface ConfState {
  voters: NodeId[];
  /** The old voter set while in a joint configuration; empty otherwise. */
  votersOutgoing: NodeId[];
  learners: NodeId[];
  /** Voters of the outgoing config that become learners when the joint config is left. */
  learnersNext: NodeId[];
  /** Leave the joint configuration automatically once it is committed. */
  autoLeave: boolean;
}

export interface SnapshotMeta {
  index: number;
  term: number;
  confState: ConfState;
}

export interface Snapshot {
  meta: SnapshotMeta;
  data: Uint8Array;
}

export type ConfChangeType = 'addNode' | 'addLearner' | 'removeNode';

export interface ConfChangeSingle {
  type: ConfChangeType;
  nodeId: NodeId;
}

/**
 * A membership change (ConfChangeV2): one change alone is applied directly when it is "simple"
 * (changes at most one voter); several go through a joint configuration.
 * transition: 'auto' leaves the joint config by itself, 'explicit' waits for an empty ConfChange.
 */
export interface ConfChange {
  transition: 'auto' | 'implicit' | 'explicit';
  changes: ConfChangeSingle[];
  context?: Uint8Array;
}

export function emptyConfState(): ConfState {
  return { voters: [], votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false };
}

export const enum MessageType {
  /** Local: start an election (campaign). */
  Hup = 'hup',
  /** Local: the leader's heartbeat tick. */
  Beat = 'beat',
  /** A proposal: entries to append (forwarded by followers to the leader). */
  Prop = 'prop',
  App = 'app',
  AppResp = 'appResp',
  Vote = 'vote',
  VoteResp = 'voteResp',
  PreVote = 'preVote',
  PreVoteResp = 'preVoteResp',
  Heartbeat = 'heartbeat',
  HeartbeatResp = 'heartbeatResp',
  Snap = 'snap',
  /** Local: the transport could not reach `from`. */
  Unreachable = 'unreachable',
  /** Local: the leader's check that a quorum is still active. */
  CheckQuorum = 'checkQuorum',
  ReadIndex = 'readIndex',
  ReadIndexResp = 'readIndexResp',
  /** To the leader: hand leadership to `from`. */
  TransferLeader = 'transferLeader',
  /** From the leader to a caught-up transferee: campaign now. */
  TimeoutNow = 'timeoutNow',
  /** Local: how sending a snapshot to `from` ended (reject: it failed). */
  SnapStatus = 'snapStatus',
}

export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  term: number;
  /** App: term of the entry at `index`. Vote: the candidate's last term. */
  logTerm: number;
  /** App: the entry before `entries`. AppResp: the index acknowledged or rejected. Vote: the candidate's last index. */
  index: number;
  entries: Entry[];
  commit: number;
  reject: boolean;
  /** A rejecting AppResp: the follower's guess at where the logs match (fast backtracking). */
  rejectHint: number;
  snapshot?: Snapshot;
  /** ReadIndex: the request id, echoed back. Heartbeat: the read-index round it confirms. */
  context?: Uint8Array;
  /** Vote/PreVote: a campaign the leader asked for (leadership transfer): voters skip the lease check. */
  transfer?: boolean;
  /** Snap: this message carries bytes [offset, offset + data length) of a snapshot `total` bytes long. */
  chunk?: { offset: number; total: number };
}

/** A message with every field defaulted but the ones given. */
export function message(m: Partial<Message> & Pick<Message, 'type'>): Message {
  return { from: 0, to: 0, term: 0, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, ...m };
}

export const enum Role {
  Follower = 'follower',
  PreCandidate = 'preCandidate',
  Candidate = 'candidate',
  Leader = 'leader',
}

/** A read confirmed by a quorum: safe to serve once the applied index reaches `index`. */
export interface ReadState {
  index: number;
  requestId: Uint8Array;
}

/** What the application must do next (see Raft.ready()). */
export interface Ready {
  /** Changed leader or role since the last Ready. */
  softState?: { leader: NodeId; role: Role };
  /** Persist, if present, before sending `messagesAfterPersist`. */
  hardState?: HardState;
  /** Persist (append, replacing any conflicting suffix). */
  entries: Entry[];
  /** Persist, replacing the log, when present. */
  snapshot?: Snapshot;
  /** Apply, in order. */
  committedEntries: Entry[];
  /** Send now. */
  messages: Message[];
  /** Send only once `hardState`, `entries` and `snapshot` are durable (votes, append acknowledgements). */
  messagesAfterPersist: Message[];
  readStates: ReadState[];
}
