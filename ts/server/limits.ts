/**
 * What one client connection, and all of a member's clients together, may hold at once. Past a
 * limit a request is refused with a stable code and changes nothing; the member keeps serving.
 *
 * etcd, for comparison: 1.5 MiB requests and 128 ops per txn (the same here); no cap on watches
 * (they share gRPC streams, themselves uncapped by default); a slow watcher is parked and caught up
 * from the store, with HTTP/2 flow control bounding what waits per stream; replies up to 2 GiB.
 * Axis has no HTTP/2 flow control under its ZeroMQ frames, so it bounds each of these itself.
 */
export interface ClientLimits {
  /** Watches one client connection (ZeroMQ identity) may hold (AXIS_TOO_MANY_WATCHES past it). */
  watchesPerClient: number;
  /** Watches one member holds for all its clients (AXIS_TOO_MANY_WATCHES past it). */
  watches: number;
  /** Requests of one client connection being served at once (AXIS_TOO_MANY_REQUESTS past it, retryable). */
  inFlightPerClient: number;
  /**
   * Bytes of replies waiting to be sent to one client past which its watches wait (and catch up
   * from the change log once it reads); at four times this, a client that does not read its
   * replies gets no more (its requests go unanswered until it reads).
   */
  queuedBytesPerClient: number;
  /** The largest answer: a read of more fails with AXIS_RESPONSE_TOO_LARGE (read in pages instead). */
  replyBytes: number;
}

export const DEFAULT_LIMITS: Readonly<ClientLimits> = {
  // A client needing more watches the keys' prefix or range once; a member's watch delivery walks
  // every watch after each commit, so the total is what bounds its cost.
  watchesPerClient: 1000,
  watches: 10_000,
  // Far above what a client keeps in flight (the benchmarks use 256), far below what would exhaust
  // a member: each waits in memory for its ReadIndex round or its commit.
  inFlightPerClient: 4096,
  queuedBytesPerClient: 16 * 1024 * 1024,
  // The native state machine caps a replicated result at the same size (kMaxResultBytes).
  replyBytes: 64 * 1024 * 1024,
};
