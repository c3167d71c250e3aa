/** The peer transport between cluster members: ZeroMQ for real, in-memory for deterministic tests. */
export type { Transport, TransportOptions, TransportStats } from './types.js';
export { DEFAULT_MAX_QUEUE, MAX_PEER_FRAME_BYTES } from './types.js';
export { Complaints } from './inbox.js';
export { ZmqTransport, type ZmqTransportOptions } from './zmq.js';
export { MemoryNetwork, MemoryTransport, type MemoryNetworkOptions } from './memory.js';
export { PEER_BATCH_VERSION, encodePeerBatch, decodePeerBatch, type PeerBatch } from '../proto/raft.js';
