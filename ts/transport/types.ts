import type { Message, NodeId } from '../raft/types.js';

export interface TransportOptions {
  /** This member. */
  id: NodeId;
  /** Messages from another cluster are dropped (logged once per peer). */
  clusterId: number;
  /** e.g. 'tcp://127.0.0.1:2380' (memory: any unique string). */
  listen: string;
  /** Other members' listen addresses. */
  peers: Map<NodeId, string>;
  /** Bounded outbound queue per peer, in messages (default 4096). */
  maxQueue?: number;
  /**
   * Called with each received batch and the member it came from (its routing id, which the batch
   * names too), in order per sender. Messages addressed to another member, message types that only
   * exist inside a member (hup, beat, unreachable, checkQuorum, snapStatus), and messages naming
   * another sender than the batch's (but for forwarded prop, readIndex and transferLeader) are
   * dropped before this (with a log line). Whether the sender is a member at all is the receiver's
   * to decide. Never called from inside send(), nor after close().
   */
  onMessages: (messages: Message[], from: NodeId) => void;
  /**
   * A send to `peer` failed or was dropped (queue full, no connection, unknown peer). Called
   * asynchronously (never from inside send()), coalesced: one call per peer per event-loop turn
   * however many messages were dropped, and never after close().
   */
  onUnreachable: (peer: NodeId) => void;
  /** Diagnostics (default: stderr). */
  log?: (line: string) => void;
}

export interface Transport {
  /** Bind/listen; resolves once ready to receive. Rejects (AxisError) if the address cannot be used. */
  start(): Promise<void>;
  /**
   * Queue messages for their `m.to`; never blocks, never throws for network trouble. Messages queued
   * before start() go out once started. Throws AxisError(AXIS_INVALID_ARGUMENT) only for a message
   * that cannot be encoded at all (unknown type): a bug in the caller.
   */
  send(messages: Message[]): void;
  /** Add a peer, or move it to a new address (its queue is dropped then). This member's own id is ignored. */
  addPeer(id: NodeId, address: string): void;
  /** Forget a peer: its queue is dropped, its connection closed. */
  removePeer(id: NodeId): void;
  /** Idempotent; stops sending and receiving, releases sockets (the address can be bound again once it resolves). */
  close(): Promise<void>;
}

export const DEFAULT_MAX_QUEUE = 4096;

/**
 * The largest peer frame a member reads (ZeroMQ drops the connection of a peer that sends a larger
 * one): a batch is at most maxBatchBytes (4 MiB) plus one message that did not fit (an append of
 * one entry of at most a request's 1.5 MiB), so 32 MiB leaves room while bounding what a stranger
 * can make a member buffer.
 */
export const MAX_PEER_FRAME_BYTES = 32 * 1024 * 1024;

/** Counters both implementations keep, for diagnostics and tests. */
export interface TransportStats {
  /** Frames (batches) and messages handed to the network. */
  sentBatches: number;
  sentMessages: number;
  /** Messages dropped on the way out: queue full, no connection, unknown peer (memory: also partitions). */
  droppedMessages: number;
  /** Batches and messages handed to onMessages. */
  receivedBatches: number;
  receivedMessages: number;
}
