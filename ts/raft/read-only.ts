/**
 * ReadIndex (§6.4 of the Raft thesis): a read is safe at the commit index the leader had when it
 * was asked, once a quorum has confirmed in a later heartbeat round that it is still the leader.
 * One round confirms every read queued before it. After etcd-io/raft's read_only.go.
 */
import type { NodeId } from './types.js';

export interface PendingRead {
  index: number;
  from: NodeId;
  requestId: Uint8Array;
}

/** Decides whether the acks of a heartbeat round make a quorum. */
export interface AckCounter {
  voteResult(acks: Map<NodeId, boolean>): 'won' | 'lost' | 'pending';
}

interface Status extends PendingRead {
  acks: Map<NodeId, boolean>;
}

const key = (ctx: Uint8Array): string => Buffer.from(ctx.buffer, ctx.byteOffset, ctx.byteLength).toString('latin1');

export class ReadOnly {
  private readonly pending = new Map<string, Status>();
  private readonly queue: string[] = [];

  constructor(readonly option: 'safe' | 'lease') {}

  /** Queues a read at commit index `index`; a request id already queued is not queued twice. */
  addRequest(index: number, from: NodeId, requestId: Uint8Array): void {
    const k = key(requestId);
    if (this.pending.has(k)) return;
    this.pending.set(k, { index, from, requestId, acks: new Map() });
    this.queue.push(k);
  }

  /** The newest queued read's id: heartbeats carry it, so their acks confirm every read before it. */
  lastPendingRequestContext(): Uint8Array | undefined {
    const k = this.queue[this.queue.length - 1];
    return k === undefined ? undefined : this.pending.get(k)!.requestId;
  }

  /**
   * Records `id`'s ack of the round carrying `ctx`. When that makes a quorum, releases (and returns)
   * every read queued up to and including it.
   */
  recvAck(id: NodeId, ctx: Uint8Array, counter: AckCounter): PendingRead[] {
    const k = key(ctx);
    const st = this.pending.get(k);
    if (!st) return [];
    st.acks.set(id, true);
    if (counter.voteResult(st.acks) !== 'won') return [];
    const at = this.queue.indexOf(k);
    const released = this.queue.splice(0, at + 1).map((q) => {
      const s = this.pending.get(q)!;
      this.pending.delete(q);
      return { index: s.index, from: s.from, requestId: s.requestId };
    });
    return released;
  }
}
