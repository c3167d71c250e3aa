/**
 * The client endpoint: a ZeroMQ ROUTER. Requests are served concurrently; replies leave through
 * one queue per client, drained round robin (zeromq.js allows one pending send per socket).
 *
 * What a client that does not read costs the member is bounded (ClientLimits):
 * - ZeroMQ holds at most SEND_HWM frames of at most about FRAME_BYTES each for it (a larger single
 *   reply goes alone). The ROUTER is `mandatory`, with no send timeout: a frame for a client whose
 *   pipe is full is refused at once (EAGAIN) instead of silently dropped, stays at the head of its
 *   queue, and is sent again shortly; other clients' replies go on meanwhile.
 * - Its queue here: past queuedBytesPerClient its watches wait (the hub delivers them from the
 *   change log once it reads: nothing is lost), past four times that its requests and replies are
 *   dropped (counted; a client retries a request it got no answer to, and a retried write is
 *   applied once). A watch's cancellation always gets through.
 * - A reply to a client that is gone is refused by ZeroMQ (EHOSTUNREACH): its queue and its
 *   watches go.
 * No ZMTP heartbeats on the ROUTER: libzmq 4.3.5 aborts the process when a socket with heartbeats
 * stopped reading and its peer hangs up (see ts/transport/zmq.ts).
 *
 * With `curve` (the member's client keys) the ROUTER is a CURVE server admitting only the authorised
 * client keys: an unauthorised client's handshake fails, so no request of it is ever read.
 */
import { Router } from 'zeromq';
import { API_VERSION, MAX_REQUEST_BYTES, type PbReply, encodeReply, joinFrame, splitFrame } from '../proto/api.js';
import { ErrorCode, isAxisError } from '../errors/index.js';
import { type CurveGate, type CurveKeys, openCurveGate } from '../security/index.js';
import type { Logger } from './logger.js';
import type { ApiService, Peer } from './service.js';

/** Replies to one client share a frame up to this size (a larger reply goes alone). */
const FRAME_BYTES = 1024 * 1024;
/** Frames ZeroMQ may hold for one client. */
const SEND_HWM = 8;
/** How soon a client whose pipe was full is tried again: at once for one that reads (its pipe drains in a moment), backing off to every 100 ms for one that does not. */
const RETRY_MS = { first: 1, most: 100 };

interface Outbox {
  identity: Buffer;
  replies: Buffer[];
  bytes: number;
  /** Its pipe was full: tried again by the retry timer at retryAt, then (still full) after twice as long. */
  blocked: boolean;
  retryAt: number;
  retryMs: number;
  /** A watch response was refused (the queue was over its limit): its watches resume once it is under. */
  refused: boolean;
}

/** What waits for the clients, for tests and diagnostics. */
export interface OutboxStats {
  clients: number;
  /** Bytes queued here (not yet handed to ZeroMQ), in all, and for the client with the most. */
  bytes: number;
  maxBytes: number;
  /** Watch responses held back (their client's queue was over its limit): the watch caught up later. */
  held: number;
  /** Requests and replies dropped because their client had not read four queues' worth of replies. */
  dropped: number;
}

export class ClientListener {
  private readonly router = new Router();
  /** Replies waiting to be sent, per client (identity as latin1), in order. */
  private readonly out = new Map<string, Outbox>();
  private sending = false;
  private closed = false;
  private loop: Promise<void> | undefined;
  private gate: CurveGate | undefined;
  private retry: NodeJS.Timeout | undefined;
  private retryAt = 0;
  private dropped = 0;
  private held = 0;
  private readonly overflowing = new Set<string>();

  constructor(
    private readonly service: ApiService,
    private readonly address: string,
    private readonly log: Logger,
    private readonly curve?: CurveKeys,
  ) {
    this.router.linger = 0;
    // Far above the request limit (so oversized requests get an error reply), yet bounded.
    this.router.maxMessageSize = 4 * MAX_REQUEST_BYTES;
    this.router.mandatory = true;
    this.router.sendTimeout = 0;
    this.router.sendHighWaterMark = SEND_HWM;
  }

  async start(): Promise<void> {
    try {
      if (this.curve) {
        this.gate = await openCurveGate(this.curve, (address) => {
          if (!this.closed) this.log.warn({ event: 'client-refused', code: ErrorCode.UNAUTHENTICATED, address }, `${ErrorCode.UNAUTHENTICATED}: a client at ${address} is not authorised: refused (logged once)`);
        });
        this.gate.secure(this.router);
      }
      await this.router.bind(this.address);
    } catch (err) {
      this.router.close();
      this.gate?.close();
      throw err;
    }
    this.loop = this.receive();
  }

  get stats(): OutboxStats {
    let bytes = 0;
    let maxBytes = 0;
    for (const q of this.out.values()) {
      bytes += q.bytes;
      maxBytes = Math.max(maxBytes, q.bytes);
    }
    return { clients: this.out.size, bytes, maxBytes, held: this.held, dropped: this.dropped };
  }

  private async receive(): Promise<void> {
    try {
      for await (const frames of this.router) {
        const [identity, frame] = frames;
        if (!identity || !frame || frames.length !== 2) continue; // not our framing: nothing to answer
        let requests: Uint8Array[];
        try {
          requests = splitFrame(frame);
        } catch (err) {
          const e = isAxisError(err) ? err : undefined;
          this.send(identity, { version: API_VERSION, id: 0, error: { code: e?.code ?? ErrorCode.MALFORMED_REQUEST, message: e?.message ?? String(err) } });
          continue;
        }
        const peer = this.peer(identity);
        for (const r of requests) {
          // A client that has not read four queues' worth of replies would not read these either.
          if (this.overloaded(peer.key)) this.dropped++;
          else void this.service.handle(r, peer).then((reply) => this.send(identity, reply));
        }
      }
    } catch (err) {
      if (!this.closed) this.log.error({ event: 'client-endpoint-failed', err }, `client endpoint stopped receiving: ${(err as Error).message}`);
    }
  }

  private overloaded(key: string): boolean {
    const over = (this.out.get(key)?.bytes ?? 0) > 4 * this.service.limits.queuedBytesPerClient;
    if (over && !this.overflowing.has(key)) {
      this.overflowing.add(key);
      this.log.warn({ event: 'client-not-reading', bytes: this.out.get(key)!.bytes }, 'a client does not read its replies: its requests go unanswered until it does');
    } else if (!over) this.overflowing.delete(key);
    return over;
  }

  /** The client behind `identity`, for pushes (watch responses). */
  private peer(identity: Buffer): Peer {
    const key = identity.toString('latin1');
    return {
      key,
      push: (reply) => {
        // A client that does not read is not buffered without bound: its watches fall behind and
        // catch up later. A cancellation always goes (it is small, and there is one per watch).
        const q = this.out.get(key);
        if (q && !reply.watch?.canceled && q.bytes > this.service.limits.queuedBytesPerClient) {
          q.refused = true;
          this.held++;
          return false;
        }
        this.send(identity, reply);
        return true;
      },
    };
  }

  private send(identity: Buffer, reply: PbReply): void {
    if (this.closed) return;
    const key = identity.toString('latin1');
    // Past four queues' worth a client is not reading: its replies are dropped (a retried request is
    // answered again; a write is applied once). A cancellation still goes.
    if (!reply.watch?.canceled && this.overloaded(key)) {
      this.dropped++;
      return;
    }
    const bytes = encodeReply(reply);
    let q = this.out.get(key);
    if (!q) this.out.set(key, (q = { identity, replies: [], bytes: 0, blocked: false, retryAt: 0, retryMs: RETRY_MS.first, refused: false }));
    q.replies.push(bytes);
    q.bytes += bytes.length;
    // The first reply goes at once; those queued while a send is in flight go together.
    if (!this.sending) void this.drain();
  }

  /** Round robin over the clients with replies: one frame each per round (up to about FRAME_BYTES). */
  private async drain(): Promise<void> {
    this.sending = true;
    try {
      for (let progress = true; progress && !this.closed; ) {
        progress = false;
        for (const [key, q] of this.out) {
          if (q.blocked) continue;
          if (q.replies.length === 0) {
            this.out.delete(key);
            continue;
          }
          let bytes = 0;
          let end = 0;
          while (end < q.replies.length && (end === 0 || bytes + q.replies[end]!.length <= FRAME_BYTES)) bytes += q.replies[end++]!.length;
          try {
            await this.router.send([q.identity, joinFrame(q.replies.slice(0, end))]);
          } catch (err) {
            if (this.closed) return;
            const code = (err as { code?: string }).code;
            if (code === 'EAGAIN') {
              // Its pipe is full: it is not reading (or not fast enough). Kept, and tried again soon.
              q.blocked = true;
              q.retryAt = Date.now() + q.retryMs;
              q.retryMs = Math.min(2 * q.retryMs, RETRY_MS.most);
              this.retryLater();
              continue;
            }
            // Gone (EHOSTUNREACH: it disconnected), or a send that cannot work: its replies and watches go.
            if (code !== 'EHOSTUNREACH') this.log.warn({ err }, `replies to a client dropped: ${(err as Error).message}`);
            this.out.delete(key);
            this.overflowing.delete(key);
            this.service.forget(key, 'the client disconnected');
            continue;
          }
          q.replies.splice(0, end);
          q.bytes -= bytes;
          q.retryMs = RETRY_MS.first;
          progress = true;
          if (q.refused && q.bytes <= this.service.limits.queuedBytesPerClient) {
            q.refused = false;
            this.service.resume(key);
          }
        }
      }
    } finally {
      this.sending = false;
    }
  }

  /** Wakes up at the earliest retry of a blocked client. */
  private retryLater(): void {
    let at = Infinity;
    for (const q of this.out.values()) if (q.blocked) at = Math.min(at, q.retryAt);
    if (at === Infinity || (this.retry && at >= this.retryAt)) return;
    clearTimeout(this.retry);
    this.retryAt = at;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      const now = Date.now();
      for (const q of this.out.values()) if (q.blocked && q.retryAt <= now) q.blocked = false;
      this.retryLater();
      if (!this.sending) void this.drain();
    }, Math.max(0, at - Date.now()));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retry);
    this.router.close();
    await this.loop;
    this.gate?.close();
  }
}
