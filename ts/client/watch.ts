/**
 * A watch through the cluster: created on one member, its responses pushed over the connection;
 * kept alive by a periodic progress request. When that member fails to answer (it stopped,
 * restarted and forgot the watch, or the connection broke) the watch is created again on the next
 * member from the revision after the last one delivered, so the stream goes on with no gap and no
 * duplicate (the member waits until it has applied that far).
 */
import { AxisError, ErrorCode } from '../errors/index.js';
import { API_VERSION, type EndKind, type PbReply, type PbRequest, type PbWatchCreate, eventsFromPb } from '../proto/api.js';
import type { WatchResponse } from '../storage/watch.js';

/** What a watch needs of the client: a member to stream from, and one-shot requests to it. */
export interface WatchLink {
  /** The next member to try (round robin). */
  pick(): WatchConnection;
}

export interface WatchConnection {
  readonly endpoint: string;
  openStream(req: PbRequest, handler: (r: PbReply) => void): number;
  closeStream(id: number): void;
  request(req: PbRequest, timeoutMs: number): Promise<PbReply>;
}

const RETRYABLE = new Set<string>([ErrorCode.UNAVAILABLE, ErrorCode.TIMEOUT, ErrorCode.WATCH_NOT_FOUND, ErrorCode.CLOSED]);

export class ClientWatch implements AsyncIterable<WatchResponse> {
  /** The client-side id (stable across re-creations on other members). */
  readonly id: number;
  private conn: WatchConnection | undefined;
  private streamId = 0;
  private memberWatchId = 0;
  /** Next revision owed: the start, then one past the last promised. */
  private from: number;
  private readonly queue: WatchResponse[] = [];
  private readonly waiting: ((r: IteratorResult<WatchResponse>) => void)[] = [];
  private ended = false;
  private failure: Error | undefined;
  private readonly keepAlive: NodeJS.Timeout;
  private restarting = false;
  /** Too much unread: the member's watch was cancelled; it is made again once the reader catches up. */
  private paused = false;

  constructor(
    private readonly link: WatchLink,
    id: number,
    private readonly create: PbWatchCreate,
    private readonly options: { keepAliveMs: number; timeoutMs: number; maxBuffered?: number },
  ) {
    this.id = id;
    this.from = create.startRevision ?? 0;
    this.keepAlive = setInterval(() => void this.ping(), options.keepAliveMs);
    this.start();
  }

  private start(): void {
    if (this.ended || this.paused) return;
    const conn = this.link.pick();
    this.conn = conn;
    this.memberWatchId = 0;
    try {
      this.streamId = conn.openStream(
        { version: API_VERSION, id: 0, watchCreate: { ...this.create, ...(this.from ? { startRevision: this.from } : {}) } },
        (r) => this.onReply(conn, r),
      );
    } catch (err) {
      this.end(err as Error);
    }
  }

  private onReply(conn: WatchConnection, r: PbReply): void {
    if (conn !== this.conn || this.ended) return;
    if (r.error) {
      if (RETRYABLE.has(r.error.code) || r.error.code === ErrorCode.NO_LEADER) return void this.restart();
      return this.end(new AxisError(r.error.code as ErrorCode, r.error.message));
    }
    const w = r.watch;
    if (!w) return;
    if (w.created) {
      this.memberWatchId = w.watchId;
      // From now on: the next revision the member will deliver, if none was asked for.
      if (!this.from) this.from = w.revision + 1;
      return;
    }
    const events = eventsFromPb(w.events);
    const out: WatchResponse = { watchId: this.id, events, revision: w.revision };
    if (w.canceled) {
      if (w.compactRevision) {
        out.canceled = true;
        out.compactRevision = w.compactRevision;
        if (w.cancelReason) out.cancelReason = w.cancelReason;
        this.push(out);
        return this.end();
      }
      // Cancelled by the member (stopping, or it forgot this client): go on elsewhere.
      return void this.restart();
    }
    if (w.revision + 1 > this.from) this.from = w.revision + 1;
    this.push(out);
  }

  private async ping(): Promise<void> {
    const conn = this.conn;
    if (!conn || this.ended || this.restarting || this.paused) return;
    if (!this.memberWatchId) {
      // Not even created yet after a full keep-alive period: that member is not answering.
      return this.restart();
    }
    try {
      const r = await conn.request({ version: API_VERSION, id: 0, watchProgress: { watchId: this.memberWatchId } }, this.options.timeoutMs);
      if (r.error && conn === this.conn) await this.restart();
    } catch {
      if (conn === this.conn) await this.restart();
    }
  }

  private async restart(): Promise<void> {
    if (this.restarting || this.ended) return;
    this.restarting = true;
    try {
      if (this.conn) this.conn.closeStream(this.streamId);
      this.conn = undefined;
      await new Promise((r) => setTimeout(r, 50));
      this.start();
    } finally {
      this.restarting = false;
    }
  }

  private push(r: WatchResponse): void {
    const w = this.waiting.shift();
    if (w) w({ value: r, done: false });
    else this.queue.push(r);
    if (!this.paused && !this.ended && this.queue.length >= (this.options.maxBuffered ?? 1000)) this.pause();
  }

  /**
   * The reader is behind: stop the member's watch (its responses would only pile up here) and make
   * it again, from the revision after the last one queued, once the reader has caught up. The
   * member then reads those revisions from its change log: nothing is lost.
   */
  private pause(): void {
    this.paused = true;
    const conn = this.conn;
    const id = this.memberWatchId;
    if (conn) conn.closeStream(this.streamId);
    this.conn = undefined;
    if (conn && id) void conn.request({ version: API_VERSION, id: 0, watchCancel: { watchId: id } }, this.options.timeoutMs).catch(() => undefined);
  }

  private resumeIfDrained(): void {
    if (this.paused && !this.ended && this.queue.length <= (this.options.maxBuffered ?? 1000) / 2) {
      this.paused = false;
      this.start();
    }
  }

  private end(err?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = err;
    clearInterval(this.keepAlive);
    if (this.conn) this.conn.closeStream(this.streamId);
    for (const w of this.waiting.splice(0)) w({ value: undefined, done: true });
  }

  /** Stops the watch (and tells the member). */
  cancel(): void {
    const conn = this.conn;
    const id = this.memberWatchId;
    this.end();
    if (conn && id) void conn.request({ version: API_VERSION, id: 0, watchCancel: { watchId: id } }, this.options.timeoutMs).catch(() => undefined);
  }

  /** Asks for a progress response (sent once the member has delivered everything so far). */
  requestProgress(): void {
    void this.ping();
  }

  /** The next response; undefined once the watch has ended (check `error`). */
  async next(): Promise<WatchResponse | undefined> {
    const r = await this[Symbol.asyncIterator]().next();
    return r.done ? undefined : r.value;
  }

  /** Why the watch ended, when it did on an error (bad input, say). */
  get error(): Error | undefined {
    return this.failure;
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchResponse> {
    return {
      next: () => {
        const r = this.queue.shift();
        if (r) {
          this.resumeIfDrained();
          return Promise.resolve({ value: r, done: false });
        }
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.waiting.push(resolve));
      },
      return: () => {
        this.cancel();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

export type { EndKind };
