/**
 * The client endpoint: a ZeroMQ ROUTER. Requests are served concurrently; replies leave through
 * one queue (zeromq.js allows one pending send per socket). A reply to a client that has gone is
 * dropped by ZeroMQ (ROUTER, not mandatory).
 *
 * With `curve` (the member's client keys) the ROUTER is a CURVE server admitting only the authorised
 * client keys: an unauthorised client's handshake fails, so no request of it is ever read.
 */
import { Router } from 'zeromq';
import { API_VERSION, encodeReply, joinFrame, splitFrame } from '../proto/api.js';
import { ErrorCode, isAxisError } from '../errors/index.js';
import { type CurveGate, type CurveKeys, openCurveGate } from '../security/index.js';
import type { Logger } from './logger.js';
import type { ApiService, Peer } from './service.js';
import { MAX_REQUEST_BYTES } from './service.js';

const MAX_FRAME_BYTES = 4 * 1024 * 1024;
/** Replies queued for one client past which its watches wait (catch up later). */
const MAX_QUEUED_BYTES = 16 * 1024 * 1024;

export class ClientListener {
  private readonly router = new Router();
  /** Replies waiting to be sent, per client (identity as latin1), in order. */
  private out = new Map<string, { identity: Buffer; replies: Buffer[]; bytes: number }>();
  private sending = false;
  private closed = false;
  private loop: Promise<void> | undefined;
  private gate: CurveGate | undefined;

  constructor(
    private readonly service: ApiService,
    private readonly address: string,
    private readonly log: Logger,
    private readonly curve?: CurveKeys,
  ) {
    this.router.linger = 0;
    // Far above the request limit (so oversized requests get an error reply), yet bounded.
    this.router.maxMessageSize = 4 * MAX_REQUEST_BYTES;
    this.router.sendHighWaterMark = 10000;
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
          this.send(identity, encodeReply({ version: API_VERSION, id: 0, error: { code: e?.code ?? 'AXIS_MALFORMED_REQUEST', message: e?.message ?? String(err) } }));
          continue;
        }
        const peer = this.peer(identity);
        for (const r of requests) void this.service.handle(r, peer).then((reply) => this.send(identity, encodeReply(reply)));
      }
    } catch (err) {
      if (!this.closed) this.log.error({ event: 'client-endpoint-failed', err }, `client endpoint stopped receiving: ${(err as Error).message}`);
    }
  }

  /** The client behind `identity`, for pushes (watch responses). */
  private peer(identity: Buffer): Peer {
    const key = identity.toString('latin1');
    return {
      key,
      push: (reply) => {
        // A client that does not read is not buffered without bound: its watches fall behind.
        if ((this.out.get(key)?.bytes ?? 0) > MAX_QUEUED_BYTES) return false;
        this.send(identity, encodeReply(reply));
        return true;
      },
    };
  }

  private send(identity: Buffer, reply: Buffer): void {
    if (this.closed) return;
    const key = identity.toString('latin1');
    let q = this.out.get(key);
    if (!q) this.out.set(key, (q = { identity, replies: [], bytes: 0 }));
    q.replies.push(reply);
    q.bytes += reply.length;
    // The first reply goes at once; those queued while a send is in flight go together.
    if (!this.sending) void this.drain();
  }

  /** One frame per client per round, carrying every reply queued for it (up to about 4 MiB). */
  private async drain(): Promise<void> {
    this.sending = true;
    try {
      while (this.out.size > 0 && !this.closed) {
        const round = this.out;
        this.out = new Map();
        for (const q of round.values()) {
          let at = 0;
          while (at < q.replies.length && !this.closed) {
            let bytes = 0;
            let end = at;
            while (end < q.replies.length && (end === at || bytes + q.replies[end]!.length <= MAX_FRAME_BYTES)) bytes += q.replies[end++]!.length;
            try {
              await this.router.send([q.identity, joinFrame(q.replies.slice(at, end))]);
            } catch (err) {
              if (!this.closed) this.log.warn({ err }, `reply not sent: ${(err as Error).message}`);
            }
            at = end;
          }
        }
      }
    } finally {
      this.sending = false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.router.close();
    await this.loop;
    this.gate?.close();
  }
}
