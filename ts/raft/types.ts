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
