/**
 * The peer transport over ZeroMQ. Each member binds one ROUTER on its `listen` address and receives
 * there; it sends through one DEALER per peer, connected to the peer's address with routing id = its
 * own id, so the receiving ROUTER knows who is talking. Traffic is one-way per socket: ROUTERs never
 * send, DEALERs never receive.
 *
 * Sending: zeromq.js allows one pending send per socket, so each peer has a bounded queue (maxQueue
 * messages) drained by one sender loop that takes what is queued (up to maxBatchBytes) and sends it
 * as ONE PeerBatch frame. Sends from one event-loop turn go out together (the loop starts on
 * setImmediate). When the queue is full, or a frame cannot be handed to ZeroMQ within sendTimeout
 * (no connection), messages are dropped and the peer is reported unreachable: Raft retries.
 *
 * Socket options, and why:
 * - DEALER immediate: frames are only queued on a completed connection. Without it a DEALER queues
 *   up to its high-water mark for a peer that is down and replays stale traffic when it returns;
 *   with it, a down peer makes send() wait, which sendTimeout turns into "unreachable".
 * - DEALER sendHighWaterMark (16 frames): what ZeroMQ buffers per peer beyond the JS queue. Small,
 *   since frames are whole batches: memory per peer is bounded by maxQueue messages plus 16 frames.
 * - DEALER sendTimeout (1000 ms): the longest a batch waits for a connection (or for a slow peer to
 *   drain) before it is dropped. Long enough for a connection to a live peer to complete; short
 *   enough for Raft (an election timeout is about a second) to hear about a dead peer promptly.
 * - linger 0: close() never waits for undelivered frames (Raft does not need them), so close is
 *   prompt. (close() then waits, bounded, until the listening port can be bound again.)
 * - reconnectInterval 100 ms, reconnectMaxInterval 1000 ms: ZeroMQ reconnects by itself, backing off
 *   to one attempt a second, so a restarted peer (same address, new process) is reached again
 *   within about a second.
 * - connectTimeout 2000 ms: a connect to an unresponsive host gives up and retries instead of
 *   waiting for the OS's minutes-long TCP timeout.
 * - ZMTP heartbeats (interval 1000 ms, timeout and TTL 5000 ms) on the DEALERs: a connection whose
 *   peer vanished without closing it (power loss, partition) is detected and torn down, so the
 *   DEALER reconnects and sends report unreachable instead of filling a dead TCP buffer. Never on
 *   the ROUTER: libzmq 4.3.5 aborts the process (assertion !_io_error) when a socket with
 *   heartbeats stopped reading (its queue full) and its peer hangs up, so any peer could stop a
 *   member by flooding it and disconnecting. The ROUTER still answers the DEALERs' pings.
 * - ROUTER maxMessageSize (MAX_PEER_FRAME_BYTES, 32 MiB): a larger frame drops its connection
 *   instead of being buffered whole.
 * - ROUTER handover: a restarted peer connects with the same routing id while the old connection may
 *   still look alive; the new connection takes over. Without it libzmq 4.3 parks the new connection
 *   as anonymous and the peer is never heard again (libzmq#2019; seen here in tests as members that
 *   never reconnect).
 * - ROUTER receiveHighWaterMark (128 frames per peer): bounds what ZeroMQ buffers for a busy member;
 *   beyond it TCP pushes back and the sender's sends time out into "unreachable".
 *
 * CURVE (option `curve`, the cluster's shared peer keys): the ROUTER is a CURVE server that admits
 * only the authorised keys (through the process's ZAP handler, ts/security/zap.ts) and each DEALER
 * proves the same key pair. A peer without it never completes a handshake, so nothing it sends
 * reaches the inbox; a refusal is logged once per address, without key material.
 *
 * Never ROUTER unbind(): see shutdown().
 */
import { createServer } from 'node:net';
import { Dealer, Router } from 'zeromq';
import { AxisError, ErrorCode } from '../errors/index.js';
import { approxMessageBytes, encodePeerBatch, isWireMessageType } from '../proto/raft.js';
import type { Message, NodeId } from '../raft/types.js';
import { type CurveGate, type CurveKeys, openCurveGate, secureClient } from '../security/index.js';
import { UnreachableReports } from './unreachable.js';
import { Inbox, routingIdText } from './inbox.js';
import { DEFAULT_MAX_QUEUE, MAX_PEER_FRAME_BYTES, type Transport, type TransportOptions, type TransportStats } from './types.js';

export interface ZmqTransportOptions extends TransportOptions {
  /** Most bytes (roughly) of messages sent as one frame; a single larger message still goes alone (default 4 MiB). */
  maxBatchBytes?: number;
  /** Milliseconds a frame may wait for a connection before it is dropped and the peer reported unreachable (default 1000). */
  sendTimeout?: number;
  /** Frames ZeroMQ may buffer per peer (default 16). */
  sendHighWaterMark?: number;
  /** ZMTP heartbeat interval in ms, 0 for none (default 1000); the timeout and TTL are 5 intervals. */
  heartbeatInterval?: number;
  /** ZeroMQ's reconnect backoff, ms (defaults 100 and 1000). */
  reconnectInterval?: number;
  reconnectMaxInterval?: number;
  /** The cluster's peer keys (role 'peer'): CURVE on every peer connection. Without: plaintext. */
  curve?: CurveKeys;
}

interface Peer {
  id: NodeId;
  address: string;
  queue: Message[];
  dealer: Dealer | undefined;
  /** A drain is scheduled or running. */
  busy: boolean;
  /** The last send failed (logged once until one succeeds). */
  down: boolean;
  /** The peer refused this member's key (logged once). */
  refusedUs: boolean;
  removed: boolean;
}

const defaultLog = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

export class ZmqTransport implements Transport {
  private readonly id: NodeId;
  private readonly clusterId: number;
  private readonly listen: string;
  private readonly maxQueue: number;
  private readonly maxBatchBytes: number;
  private readonly sendTimeout: number;
  private readonly sendHighWaterMark: number;
  private readonly heartbeatInterval: number;
  private readonly reconnectInterval: number;
  private readonly reconnectMaxInterval: number;
  private readonly log: (line: string) => void;
  private readonly curve: CurveKeys | undefined;
  private gate: CurveGate | undefined;
  private readonly inbox: Inbox;
  private readonly peers = new Map<NodeId, Peer>();
  private router: Router | undefined;
  private boundAddress: string | undefined;
  private starting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private started = false;
  private closed = false;
  private receiving: Promise<void> = Promise.resolve();
  private readonly unreachable: UnreachableReports;
  private readonly counts = { sentBatches: 0, sentMessages: 0, droppedMessages: 0 };

  constructor(options: ZmqTransportOptions) {
    this.id = options.id;
    this.clusterId = options.clusterId;
    this.listen = options.listen;
    this.maxQueue = options.maxQueue ?? DEFAULT_MAX_QUEUE;
    this.maxBatchBytes = options.maxBatchBytes ?? 4 * 1024 * 1024;
    this.sendTimeout = options.sendTimeout ?? 1000;
    this.sendHighWaterMark = options.sendHighWaterMark ?? 16;
    this.heartbeatInterval = options.heartbeatInterval ?? 1000;
    this.reconnectInterval = options.reconnectInterval ?? 100;
    this.reconnectMaxInterval = options.reconnectMaxInterval ?? 1000;
    this.curve = options.curve;
    const log = options.log ?? defaultLog;
    this.log = (line) => log(`axis transport ${this.id}: ${line}`);
    this.unreachable = new UnreachableReports(options.onUnreachable, this.log, () => this.closed);
    this.inbox = new Inbox({ id: this.id, clusterId: this.clusterId, onMessages: options.onMessages, log: this.log });
    for (const [id, address] of options.peers) this.addPeer(id, address);
  }

  /** The address actually bound (e.g. with the port chosen for 'tcp://127.0.0.1:*'), once started. */
  get address(): string | undefined {
    return this.boundAddress;
  }

  get stats(): TransportStats {
    return { ...this.counts, receivedBatches: this.inbox.batches, receivedMessages: this.inbox.messages };
  }

  /** Messages queued for `peer` and not yet handed to ZeroMQ. */
  queued(peer: NodeId): number {
    return this.peers.get(peer)?.queue.length ?? 0;
  }

  start(): Promise<void> {
    if (this.closed) return Promise.reject(new AxisError(ErrorCode.CLOSED, 'the transport is closed'));
    this.starting ??= this.bind();
    return this.starting;
  }

  private async bind(): Promise<void> {
    const router = new Router({ linger: 0, handover: true, receiveHighWaterMark: 128, maxMessageSize: MAX_PEER_FRAME_BYTES });
    try {
      if (this.curve) {
        this.gate = await openCurveGate(this.curve, (address) => {
          if (!this.closed) this.log(`${ErrorCode.UNAUTHENTICATED}: a peer at ${address} is not authorised: refused (logged once)`);
        });
        this.gate.secure(router);
      }
      await router.bind(this.listen);
    } catch (err) {
      router.close();
      this.gate?.close();
      if (err instanceof AxisError) throw err;
      throw new AxisError(ErrorCode.INVALID_ARGUMENT, `cannot listen on ${this.listen}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (this.closed) {
      router.close();
      this.gate?.close();
      throw new AxisError(ErrorCode.CLOSED, 'the transport was closed while starting');
    }
    this.router = router;
    this.boundAddress = router.lastEndpoint ?? this.listen;
    this.receiving = this.receive(router);
    this.started = true;
    for (const peer of this.peers.values()) {
      this.connect(peer);
      this.schedule(peer);
    }
  }

  send(messages: Message[]): void {
    if (this.closed) return;
    for (const m of messages) {
      if (!isWireMessageType(m.type)) throw new AxisError(ErrorCode.INVALID_ARGUMENT, `cannot send a raft message of unknown type ${JSON.stringify(m.type)}`);
      const peer = this.peers.get(m.to);
      if (!peer) {
        this.drop(m.to, 1);
        continue;
      }
      if (peer.queue.length >= this.maxQueue) {
        this.drop(peer.id, 1);
        continue;
      }
      peer.queue.push(m);
      this.schedule(peer);
    }
  }

  addPeer(id: NodeId, address: string): void {
    if (this.closed) return;
    if (id === this.id) return; // a member list may include this member: it is not its own peer
    const existing = this.peers.get(id);
    if (existing) {
      if (existing.address === address) return;
      this.removePeer(id);
    }
    const peer: Peer = { id, address, queue: [], dealer: undefined, busy: false, down: false, refusedUs: false, removed: false };
    this.peers.set(id, peer);
    if (this.started) this.connect(peer);
  }

  removePeer(id: NodeId): void {
    const peer = this.peers.get(id);
    if (!peer) return;
    this.peers.delete(id);
    peer.removed = true;
    peer.queue = [];
    peer.dealer?.close(); // rejects a pending send; the drain loop sees `removed` and stops
    peer.dealer = undefined;
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    this.unreachable.clear();
    await this.starting?.catch(() => undefined);
    for (const id of [...this.peers.keys()]) this.removePeer(id);
    const router = this.router;
    this.router = undefined;
    if (router) {
      // Never router.unbind() here: zeromq.js runs it on a worker thread while the pending receive
      // polls the same socket from the main thread, and libzmq sockets are not thread-safe (it
      // aborted the process with pipe.cpp assertions, ~1 close in 100). close() is synchronous and
      // ends the pending receive; ZeroMQ's I/O thread closes the listening socket a moment later,
      // so wait for the port to be free before resolving.
      router.close();
      await this.receiving;
      this.gate?.close();
      if (this.boundAddress) await waitUntilFree(this.boundAddress, 2000);
    }
  }


  // ---- sending --------------------------------------------------------------------------------

  private connect(peer: Peer): void {
    const hb = this.heartbeatInterval;
    const dealer = new Dealer({
      routingId: String(this.id),
      linger: 0,
      immediate: true,
      sendHighWaterMark: this.sendHighWaterMark,
      sendTimeout: this.sendTimeout,
      reconnectInterval: this.reconnectInterval,
      reconnectMaxInterval: this.reconnectMaxInterval,
      connectTimeout: 2000,
      ...(hb > 0 ? { heartbeatInterval: hb, heartbeatTimeout: 5 * hb, heartbeatTimeToLive: 5 * hb } : {}),
    });
    if (this.curve) {
      secureClient(dealer, this.curve, () => {
        if (peer.refusedUs || this.closed) return;
        peer.refusedUs = true;
        this.log(`${ErrorCode.UNAUTHENTICATED}: peer ${peer.id} at ${peer.address} refused this member's key (logged once)`);
      });
    }
    try {
      dealer.connect(peer.address);
    } catch (err) {
      dealer.close();
      this.log(`cannot connect to peer ${peer.id} at ${peer.address}: ${err instanceof Error ? err.message : String(err)}; its messages are dropped`);
      return;
    }
    peer.dealer = dealer;
  }

  private schedule(peer: Peer): void {
    if (peer.busy || !this.started) return;
    peer.busy = true;
    setImmediate(() => void this.drain(peer));
  }

  /** The sender loop of one peer: one frame at a time, each carrying everything queued meanwhile. */
  private async drain(peer: Peer): Promise<void> {
    try {
      while (peer.queue.length > 0 && !peer.removed && !this.closed) {
        const batch = this.take(peer);
        const dealer = peer.dealer;
        if (!dealer) {
          this.drop(peer.id, batch.length);
          continue;
        }
        const frame = encodePeerBatch({ clusterId: this.clusterId, from: this.id, messages: batch });
        try {
          await dealer.send(frame);
          this.counts.sentBatches++;
          this.counts.sentMessages += batch.length;
          if (peer.down) {
            peer.down = false;
            this.log(`peer ${peer.id} at ${peer.address} is reachable again`);
          }
        } catch (err) {
          if (peer.removed || this.closed) break;
          if (!peer.down) {
            peer.down = true;
            const code = (err as { code?: string }).code ?? (err instanceof Error ? err.message : String(err));
            this.log(`peer ${peer.id} at ${peer.address} is unreachable (${code}): dropping its messages until it answers`);
          }
          this.drop(peer.id, batch.length);
        }
      }
    } catch (err) {
      this.log(`${ErrorCode.INTERNAL}: the sender loop of peer ${peer.id} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      this.drop(peer.id, peer.queue.length);
      peer.queue = [];
    } finally {
      peer.busy = false;
    }
  }

  /** The head of the queue, up to maxBatchBytes (at least one message). */
  private take(peer: Peer): Message[] {
    const q = peer.queue;
    let bytes = 0;
    let n = 0;
    while (n < q.length) {
      bytes += approxMessageBytes(q[n]!);
      if (n > 0 && bytes > this.maxBatchBytes) break;
      n++;
    }
    if (n === q.length) {
      peer.queue = [];
      return q;
    }
    return q.splice(0, n);
  }

  private drop(peer: NodeId, count: number): void {
    this.counts.droppedMessages += count;
    if (this.closed) return;
    this.unreachable.add(peer);
  }


  // ---- receiving ------------------------------------------------------------------------------

  private async receive(router: Router): Promise<void> {
    let n = 0;
    while (!this.closed && !router.closed) {
      let parts: Buffer[];
      try {
        parts = await router.receive();
      } catch (err) {
        if (this.closed || router.closed) return;
        this.log(`receive failed: ${err instanceof Error ? err.message : String(err)}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
        continue;
      }
      if (this.closed) return;
      const [routingId, ...frames] = parts;
      if (routingId === undefined) continue;
      const from = routingIdText(routingId);
      if (frames.length !== 1) {
        this.inbox.reject(from, `a message of ${frames.length} frames (a peer batch is exactly one)`);
      } else {
        this.inbox.frame(from, frames[0]!);
      }
      // A flood of frames must not starve timers (Raft's ticks) and I/O: yield now and then.
      if (++n % 256 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
  }
}

/**
 * Resolves once a TCP `address` ('tcp://host:port', as ZeroMQ reports it) can be listened on again,
 * probing with a plain listener (ZeroMQ's listeners and Node's both use SO_REUSEADDR, so the probe
 * succeeds exactly when a ZeroMQ bind would), or after `timeoutMs`. Other transports: at once.
 */
async function waitUntilFree(address: string, timeoutMs: number): Promise<void> {
  const m = /^tcp:\/\/(.+):(\d+)$/.exec(address);
  if (!m) return;
  const host = m[1]!.replace(/^\[(.*)\]$/, '$1');
  const port = Number(m[2]);
  const free = () =>
    new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(false));
      probe.listen({ host: host === '*' ? '0.0.0.0' : host, port, exclusive: true }, () => probe.close(() => resolve(true)));
    });
  const deadline = Date.now() + timeoutMs;
  while (!(await free()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 2));
}
