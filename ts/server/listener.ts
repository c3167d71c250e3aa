/**
 * The client endpoint: a ZeroMQ ROUTER. Requests are served concurrently; replies leave through
 * one queue (zeromq.js allows one pending send per socket). A reply to a client that has gone is
 * dropped by ZeroMQ (ROUTER, not mandatory).
 */
import { Router } from 'zeromq';
import { encodeReply } from '../proto/api.js';
import type { ApiService } from './service.js';
import { MAX_REQUEST_BYTES } from './service.js';

export class ClientListener {
  private readonly router = new Router();
  private readonly out: Buffer[][] = [];
  private sending = false;
  private closed = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly service: ApiService,
    private readonly address: string,
  ) {
    this.router.linger = 0;
    // Far above the request limit (so oversized requests get an error reply), yet bounded.
    this.router.maxMessageSize = 4 * MAX_REQUEST_BYTES;
    this.router.sendHighWaterMark = 10000;
  }

  async start(): Promise<void> {
    await this.router.bind(this.address);
    this.loop = this.receive();
  }

  private async receive(): Promise<void> {
    try {
      for await (const frames of this.router) {
        const [identity, frame] = frames;
        if (!identity || !frame || frames.length !== 2) continue; // not our framing: nothing to answer
        void this.service.handle(frame).then((reply) => this.send([identity, encodeReply(reply)]));
      }
    } catch (err) {
      if (!this.closed) process.stderr.write(`axis: client endpoint stopped receiving: ${(err as Error).message}\n`);
    }
  }

  private send(frames: Buffer[]): void {
    if (this.closed) return;
    this.out.push(frames);
    if (!this.sending) void this.drain();
  }

  private async drain(): Promise<void> {
    this.sending = true;
    try {
      while (this.out.length > 0 && !this.closed) {
        const frames = this.out.shift()!;
        try {
          await this.router.send(frames);
        } catch (err) {
          if (!this.closed) process.stderr.write(`axis: reply not sent: ${(err as Error).message}\n`);
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
  }
}
