/**
 * An in-process network of transports with the ZeroMQ transport's interface and semantics, for
 * deterministic cluster tests: delivery is asynchronous (one setImmediate after the send's turn,
 * everything queued for a peer meanwhile as one batch), FIFO per sender, queues are bounded
 * (maxQueue), and a send to a member that is not started, closed, or cut off by a partition is
 * dropped and reported unreachable. By default every batch is really encoded and decoded
 * (raft.proto), so receivers never share objects with senders and the wire format is exercised.
 *
 * Test controls: partition(a, b) cuts every link between two groups of members (both ways),
 * isolate(a) cuts a member from everyone, drop(rate, random) loses messages at random (silently,
 * like a lossy link: no unreachable report), heal() undoes all of it. Given the same sends and the
 * same seed, what is delivered is the same.
 */
import { AxisError, ErrorCode } from '../errors/index.js';
import { encodePeerBatch, isWireMessageType, PEER_BATCH_VERSION } from '../proto/raft.js';
import type { Message, NodeId } from '../raft/types.js';
import { UnreachableReports } from './unreachable.js';
import { Inbox } from './inbox.js';
import { DEFAULT_MAX_QUEUE, type Transport, type TransportOptions, type TransportStats } from './types.js';

export interface MemoryNetworkOptions {
  /** Encode each batch to a frame and decode it at the receiver, as over ZeroMQ (default true). */
  wire?: boolean;
}

/** mulberry32: a small seeded PRNG returning floats in [0, 1), for drop(rate, seed) (the tests use it too). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class MemoryNetwork {
  readonly wire: boolean;
  private readonly listeners = new Map<string, MemoryTransport>();
  /** Cut links, as `${from}>${to}`. */
  private readonly cuts = new Set<string>();
  private readonly isolated = new Set<NodeId>();
  private dropRate = 0;
  private random: () => number = () => 1;
  /** Messages lost to drop(rate). */
  randomlyDropped = 0;

  constructor(options: MemoryNetworkOptions = {}) {
    this.wire = options.wire ?? true;
  }

  transport(options: TransportOptions): MemoryTransport {
    return new MemoryTransport(this, options);
  }

  /** Cut every link between group `a` and group `b`, both ways, until heal(). */
  partition(a: NodeId | readonly NodeId[], b: NodeId | readonly NodeId[]): void {
    const as = typeof a === 'number' ? [a] : a;
    const bs = typeof b === 'number' ? [b] : b;
    for (const x of as) {
      for (const y of bs) {
        this.cuts.add(`${x}>${y}`);
        this.cuts.add(`${y}>${x}`);
      }
    }
  }

  /** Cut `id` off from every member, until heal(). */
  isolate(id: NodeId): void {
    this.isolated.add(id);
  }

  /** Lose each message with probability `rate`, drawn from `random` (or a PRNG seeded with it). 0 stops. */
  drop(rate: number, random: (() => number) | number = 1): void {
    if (!(rate >= 0 && rate <= 1)) throw new AxisError(ErrorCode.INVALID_ARGUMENT, `drop rate ${rate} is not in [0, 1]`);
    this.dropRate = rate;
    this.random = typeof random === 'number' ? mulberry32(random) : random;
  }

  /** Undo every partition and isolation, and stop random drops. */
  heal(): void {
    this.cuts.clear();
    this.isolated.clear();
    this.dropRate = 0;
  }

  /** Whether messages from `from` to `to` get through (partitions and isolation only). */
  connected(from: NodeId, to: NodeId): boolean {
    return !this.isolated.has(from) && !this.isolated.has(to) && !this.cuts.has(`${from}>${to}`);
  }

  /**
   * Hand a raw frame to the transport listening on `address`, as if sent by a socket with routing id
   * `routingId` (tests of malformed, foreign or future frames). False if nothing listens there.
   */
  inject(address: string, routingId: string, frame: Uint8Array): boolean {
    const dest = this.listeners.get(address);
    if (!dest) return false;
    dest.inbox.frame(routingId, frame);
    return true;
  }

  /** @internal */
  listen(t: MemoryTransport, address: string): void {
    const current = this.listeners.get(address);
    if (current && current !== t) throw new AxisError(ErrorCode.INVALID_ARGUMENT, `cannot listen on ${address}: address in use`);
    this.listeners.set(address, t);
  }

  /** @internal */
  unlisten(t: MemoryTransport, address: string): void {
    if (this.listeners.get(address) === t) this.listeners.delete(address);
  }

  /** @internal Deliver `batch` from `from` to whoever listens on `address` as member `to`; false if it cannot arrive. */
  deliver(from: MemoryTransport, to: NodeId, address: string, batch: Message[]): boolean {
    const dest = this.listeners.get(address);
    if (!dest || !this.connected(from.id, to) || !this.connected(from.id, dest.id)) return false;
    let messages = batch;
    if (this.dropRate > 0) {
      messages = batch.filter(() => this.random() >= this.dropRate);
      this.randomlyDropped += batch.length - messages.length;
      if (messages.length === 0) return true;
    }
    if (this.wire) dest.inbox.frame(String(from.id), encodePeerBatch({ clusterId: from.clusterId, from: from.id, messages }));
    else dest.inbox.batch(String(from.id), { version: PEER_BATCH_VERSION, clusterId: from.clusterId, from: from.id, messages });
    return true;
  }
}

interface Peer {
  id: NodeId;
  address: string;
  queue: Message[];
  scheduled: boolean;
  removed: boolean;
}

export class MemoryTransport implements Transport {
  readonly id: NodeId;
  readonly clusterId: number;
  readonly listen: string;
  /** @internal */
  readonly inbox: Inbox;
  private readonly maxQueue: number;
  private readonly log: (line: string) => void;
  private readonly peers = new Map<NodeId, Peer>();
  private started = false;
  private closed = false;
  private readonly unreachable: UnreachableReports;
  private readonly counts = { sentBatches: 0, sentMessages: 0, droppedMessages: 0 };

  constructor(private readonly network: MemoryNetwork, options: TransportOptions) {
    this.id = options.id;
    this.clusterId = options.clusterId;
    this.listen = options.listen;
    this.maxQueue = options.maxQueue ?? DEFAULT_MAX_QUEUE;
    const log = options.log ?? ((line: string) => void process.stderr.write(`${line}\n`));
    this.log = (line) => log(`axis transport ${this.id}: ${line}`);
    this.unreachable = new UnreachableReports(options.onUnreachable, this.log, () => this.closed);
    this.inbox = new Inbox({
      id: this.id,
      clusterId: this.clusterId,
      onMessages: (messages, from) => {
        if (!this.closed) options.onMessages(messages, from);
      },
      log: this.log,
    });
    for (const [id, address] of options.peers) this.addPeer(id, address);
  }

  get stats(): TransportStats {
    return { ...this.counts, receivedBatches: this.inbox.batches, receivedMessages: this.inbox.messages };
  }

  /** Messages queued for `peer` and not yet delivered. */
  queued(peer: NodeId): number {
    return this.peers.get(peer)?.queue.length ?? 0;
  }

  async start(): Promise<void> {
    if (this.closed) throw new AxisError(ErrorCode.CLOSED, 'the transport is closed');
    if (this.started) return;
    this.network.listen(this, this.listen);
    this.started = true;
    for (const peer of this.peers.values()) if (peer.queue.length > 0) this.schedule(peer);
  }

  send(messages: Message[]): void {
    if (this.closed) return;
    for (const m of messages) {
      if (!isWireMessageType(m.type)) throw new AxisError(ErrorCode.INVALID_ARGUMENT, `cannot send a raft message of unknown type ${JSON.stringify(m.type)}`);
      const peer = this.peers.get(m.to);
      if (!peer || peer.queue.length >= this.maxQueue) {
        this.drop(m.to, 1);
        continue;
      }
      peer.queue.push(m);
      this.schedule(peer);
    }
  }

  addPeer(id: NodeId, address: string): void {
    if (this.closed || id === this.id) return;
    const existing = this.peers.get(id);
    if (existing) {
      if (existing.address === address) return;
      this.removePeer(id);
    }
    this.peers.set(id, { id, address, queue: [], scheduled: false, removed: false });
  }

  removePeer(id: NodeId): void {
    const peer = this.peers.get(id);
    if (!peer) return;
    this.peers.delete(id);
    peer.removed = true;
    peer.queue = [];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unreachable.clear();
    this.network.unlisten(this, this.listen);
    for (const id of [...this.peers.keys()]) this.removePeer(id);
  }

  private schedule(peer: Peer): void {
    if (peer.scheduled || !this.started) return;
    peer.scheduled = true;
    setImmediate(() => {
      peer.scheduled = false;
      if (peer.removed || this.closed || peer.queue.length === 0) return;
      const batch = peer.queue;
      peer.queue = [];
      if (this.network.deliver(this, peer.id, peer.address, batch)) {
        this.counts.sentBatches++;
        this.counts.sentMessages += batch.length;
      } else {
        this.drop(peer.id, batch.length);
      }
    });
  }

  private drop(peer: NodeId, count: number): void {
    this.counts.droppedMessages += count;
    if (this.closed) return;
    this.unreachable.add(peer);
  }

}
